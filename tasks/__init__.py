"""Tasks of the paper: the registry, readers of the real on-disk formats, and synthetic data."""

from tasks.registry import Task, get_task, parse_tasks, tasks_of

__all__ = ["Task", "get_task", "parse_tasks", "tasks_of"]
