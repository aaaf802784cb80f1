"""``python -m orchestrator.cli`` runs the ``mtsweep`` command."""

from orchestrator.cli import main

raise SystemExit(main())
