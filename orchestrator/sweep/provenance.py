"""What code made a result: the mtsweep version, the git commit, the libraries under it.

Recorded by the driver on every trial run (version, commit) and on the sweep's run (also the
versions of torch, Ray, MLflow and CUDA): a result is only as good as the code that made it,
and a resume under another version says so (``--rerun`` acts on it). What each trial's
worker ran with is its own report (``orchestrator.trial.versions``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from orchestrator.sweep.mlflow_schema import GIT_COMMIT_TAG, VERSION_TAG
from orchestrator.trial.versions import git_commit, package_version

LIBRARIES = ("torch", "torchvision", "ray", "mlflow", "numpy")


def code_version() -> dict[str, str]:
    """The tags every run carries: the package version, and the commit of a checkout."""
    try:
        tags = {VERSION_TAG: version("mtsweep")}
    except PackageNotFoundError:
        tags = {VERSION_TAG: "unknown"}
    commit = git_commit()
    if commit:
        tags[GIT_COMMIT_TAG] = commit
    return tags


def software_versions() -> dict[str, str]:
    """``version.<library>`` of each library a result depends on, and CUDA's when present.

    Called on the run path only, where torch is imported anyway.
    """
    out = {f"version.{name}": package_version(name) for name in ("mtsweep", *LIBRARIES)}
    import torch

    out["version.cuda"] = torch.version.cuda or "none"
    if torch.cuda.is_available():
        out["version.cudnn"] = str(torch.backends.cudnn.version())
        out["version.gpu"] = torch.cuda.get_device_name(0)
    return out
