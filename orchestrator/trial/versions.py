"""What a trial's worker runs with: Python, mtsweep, torch, Ray, MLflow, CUDA.

The worker reports these with its first report (``trial_report.VERSIONS_REPORT``), so every
trial run records what its node had installed — a failed trial too — and ``mtsweep
status`` can say when the nodes of a sweep differ. Read from package metadata
(``importlib.metadata``): the worker never imports MLflow or Ray's libraries for this, and
the versions are read once per worker process (Tune reuses the process for later trials).
"""

from __future__ import annotations

import functools
import platform
import re
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NVIDIA_DRIVER_FILE = Path("/proc/driver/nvidia/version")  # Linux: the loaded kernel module


def package_version(package: str) -> str:
    """The installed version of ``package``; 'absent' when it is not installed."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def git_commit() -> str | None:
    """HEAD of the checkout mtsweep runs from; None when it is installed from a wheel."""
    if not (REPO / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def nvidia_driver(source: Path = NVIDIA_DRIVER_FILE) -> str | None:
    """The NVIDIA kernel driver's version (e.g. '550.54.15'); None where there is none."""
    try:
        text = source.read_text()
    except OSError:
        return None
    found = re.search(r"Kernel Module\b.*?\s(\d+\.\d+(?:\.\d+)?)\s", text)
    return found.group(1) if found else None


@functools.cache
def installed_versions() -> dict[str, str]:
    """The software of this process: fixed for its life, so read once."""
    import torch

    out = {
        "python": platform.python_version(),
        "mtsweep": package_version("mtsweep"),
        "torch": torch.__version__,
        "ray": package_version("ray"),
        "mlflow": package_version("mlflow"),
        "cuda": torch.version.cuda or "none",  # the CUDA torch was built with
    }
    commit = git_commit()
    if commit:
        out["commit"] = commit
    return out


def worker_versions(gpu: bool) -> dict[str, str]:
    """``installed_versions`` and, for a trial Ray gave a GPU, its name and driver.

    CUDA is touched only when ``gpu``: a trial booked without one must not (see
    ``setup.pick_device``).
    """
    out = dict(installed_versions())
    if gpu:
        import torch

        if torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_name(0)
            driver = nvidia_driver()
            if driver:
                out["nvidia_driver"] = driver
    return out
