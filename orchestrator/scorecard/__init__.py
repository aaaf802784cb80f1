"""The reproduction scorecard: the paper's published numbers (``published``) and a run's
results put beside them (``compare``, ``heatmap``; the ``mtsweep compare`` command)."""
