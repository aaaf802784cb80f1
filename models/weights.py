"""Reading published weights: a state dict from disk, and one-line errors when it does not fit."""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from pathlib import Path

import torch

from mtsweep.errors import MtsweepError

_SHOWN = 3  # key names quoted in an error before "… (N in all)"


class WeightsError(MtsweepError):
    """A weights file that is missing, unreadable or of another architecture or size."""


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save``d state dict, read without running pickled code.

    A training checkpoint ``{"state_dict": …}`` is unwrapped and DataParallel's
    ``module.`` prefix dropped, so the files the reference scripts save load as well.
    """
    if not path.is_file():
        raise WeightsError(f"init_from: no weights file {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"init_from: {path} is not a PyTorch state dict ({first})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"init_from: {path} holds no state dict of tensors")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj


def _some(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f", … ({len(keys)} in all)" if len(keys) > _SHOWN else "")


def check_keys(path: Path, what: str, missing: Iterable[str], unexpected: Iterable[str]) -> None:
    """Refuse a file whose keys are not the expected ones, naming a few of each side."""
    missing, unexpected = set(missing), set(unexpected)
    if not missing and not unexpected:
        return
    parts = [f"missing keys {_some(missing)}"] if missing else []
    parts += [f"unexpected keys {_some(unexpected)}"] if unexpected else []
    raise WeightsError(f"init_from: {path} is not {what}: {'; '.join(parts)}")
