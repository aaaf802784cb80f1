"""Accelerators a sweep can be planned for, with their datasheet peaks and memory.

``mtsweep estimate --device NAME`` turns a trial's counted FLOPs (``orchestrator/trial/
step_cost.py``) into seconds as FLOPs / (peak × achievable fraction). The peaks are the
vendors' dense (no structured sparsity) tensor-core rates. A trial that trains with bf16
autocast (``train.amp``) runs at the bf16 peak; an fp32 trial at the TF32 peak, because
PyTorch runs fp32 convolutions on TF32 tensor cores by default
(``torch.backends.cudnn.allow_tf32``), and convolutions are nearly all of these models' work.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from tasks.errors import MtsweepError

TERA = 1e12
GIB = 2**30
# Memory left to the trial: the CUDA context, the caching allocator's slack and cuDNN's
# workspaces take the rest.
USABLE_MEMORY = 0.85
MAX_TRIALS_PER_DEVICE = 8  # past this the trials only take turns on the same cores


@dataclass(frozen=True)
class Accelerator:
    name: str
    label: str
    bf16_tflops: float  # dense bf16 tensor-core peak
    tf32_tflops: float  # dense TF32 tensor-core peak (fp32 convolutions)
    memory_gib: float
    source: str

    def peak_flops(self, amp: bool) -> float:
        return (self.bf16_tflops if amp else self.tf32_tflops) * TERA

    def seconds(self, flops: float, amp: bool, efficiency: float) -> float:
        """Seconds of ``flops`` at ``efficiency`` (achieved / peak) of this device's peak."""
        return flops / (self.peak_flops(amp) * efficiency)

    def trials_per_device(self, trial_bytes: int) -> int:
        """How many trials of ``trial_bytes`` fit in memory at once (0: not even one)."""
        return min(
            MAX_TRIALS_PER_DEVICE, math.floor(self.memory_gib * GIB * USABLE_MEMORY / trial_bytes)
        )


ACCELERATORS: dict[str, Accelerator] = {
    a.name: a
    for a in (
        Accelerator(
            "h200",
            "NVIDIA H200 SXM 141GB",
            989.4,
            494.7,
            141,
            "NVIDIA H200 Tensor Core GPU datasheet (2024)",
        ),
        Accelerator(
            "h100",
            "NVIDIA H100 SXM 80GB",
            989.4,
            494.7,
            80,
            "NVIDIA H100 Tensor Core GPU datasheet (2023), SXM column",
        ),
        Accelerator(
            "h100-pcie",
            "NVIDIA H100 PCIe 80GB",
            756.0,
            378.0,
            80,
            "NVIDIA H100 Tensor Core GPU datasheet (2023), PCIe column",
        ),
        Accelerator(
            "a100",
            "NVIDIA A100 SXM 80GB",
            312.0,
            156.0,
            80,
            "NVIDIA A100 Tensor Core GPU datasheet (2021)",
        ),
        Accelerator(
            "a100-40gb",
            "NVIDIA A100 40GB",
            312.0,
            156.0,
            40,
            "NVIDIA A100 Tensor Core GPU datasheet (2021)",
        ),
        Accelerator("l40s", "NVIDIA L40S 48GB", 362.05, 183.0, 48, "NVIDIA L40S datasheet (2023)"),
        Accelerator("l4", "NVIDIA L4 24GB", 121.0, 60.0, 24, "NVIDIA L4 datasheet (2023)"),
        Accelerator("a10", "NVIDIA A10 24GB", 125.0, 62.5, 24, "NVIDIA A10 datasheet (2021)"),
        Accelerator(
            "rtx4090",
            "NVIDIA GeForce RTX 4090 24GB",
            165.2,
            82.6,
            24,
            "NVIDIA Ada Lovelace architecture whitepaper v1.1, FP32 accumulate",
        ),
    )
}


class UnknownDeviceError(MtsweepError):
    """A --device name that is not in the table."""


def get_accelerator(name: str) -> Accelerator:
    key = name.lower()
    if key not in ACCELERATORS:
        near = difflib.get_close_matches(key, ACCELERATORS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise UnknownDeviceError(
            f"unknown --device {name!r}{hint}; known: {', '.join(ACCELERATORS)}"
        )
    return ACCELERATORS[key]
