"""Decoder initialisations a preset can ask for (``model.decoder_init``).

``pytorch`` leaves each decoder layer as PyTorch built it. ``authors`` re-draws every
decoder ``Conv2d`` weight from N(0, 2/(k²·out_channels)), as MTRobust's Taskonomy network
(after Standley et al.) does (``taskonomy_models.py``); transposed convolutions, biases and
batch norms keep their defaults there too.
"""

from __future__ import annotations

import torch
from torch import nn

from models.multitask import MultiTaskNet

DECODER_INITS = ("pytorch", "authors")


def init_decoders(model: MultiTaskNet, how: str, generator: torch.Generator | None = None) -> None:
    """Re-initialise the model's decoders in place the ``how`` way ('pytorch': untouched)."""
    if how == "pytorch":
        return
    if how != "authors":
        raise ValueError(f"decoder_init {how!r}: choose one of {', '.join(DECODER_INITS)}")
    with torch.no_grad():
        for module in model.decoders.modules():
            if type(module) is nn.Conv2d:
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                module.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=generator)
