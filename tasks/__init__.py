"""Tasks of the paper: the task registry, readers of the real on-disk formats, synthetic data.

Import what you need from its module (``tasks.registry.get_task``,
``tasks.datasets.get_dataset``); this file imports nothing, so light modules of the package
(the error types, the on-disk formats) do not pull in torch.
"""
