"""Decoder initialisations a preset can ask for (``model.decoder_init``,
``model.regression_head_init``).

``pytorch`` leaves each decoder layer as PyTorch built it. ``authors`` re-draws every
decoder ``Conv2d`` weight from N(0, 2/(k²·out_channels)), as MTRobust's Taskonomy network
(after Standley et al.) does (``taskonomy_models.py``); transposed convolutions, biases and
batch norms keep their defaults there too.

A regression head drawn with a fan-out rule starts far from its targets when it has few
output channels: fyu/drn's N(0, 2/out) gives Cityscapes depth's one-channel 1×1 head
weights of standard deviation √2, outputs of about ±10 against targets near 0.1, and a
short training spends its budget shrinking them (docs/results-smoke.md). ``zero`` starts
every regression task's output layer at zero weights and bias: its first prediction is 0,
at the targets' scale, and the layer still learns at once (its gradient is the features
times the loss's). Segmentation heads keep their draw: cross-entropy suits logits of any
scale, and a zeroed one also stalls the layers below it for the first steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from models.multitask import MultiTaskNet
from tasks.registry import Task

DECODER_INITS = ("pytorch", "authors")
REGRESSION_HEAD_INITS = ("default", "zero")


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


def output_layer(decoder: nn.Module) -> nn.Conv2d | nn.ConvTranspose2d:
    """The decoder's last (transposed) convolution: the layer that writes the task's output."""
    convs = [m for m in decoder.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    if not convs:
        raise ValueError(f"decoder {type(decoder).__name__} has no convolution to initialise")
    return convs[-1]


def init_regression_heads(model: MultiTaskNet, tasks: Sequence[Task], how: str) -> None:
    """Re-initialise each regression task's output layer in place ('default': untouched)."""
    if how == "default":
        return
    if how != "zero":
        raise ValueError(
            f"regression_head_init {how!r}: choose one of {', '.join(REGRESSION_HEAD_INITS)}"
        )
    with torch.no_grad():
        for task in tasks:
            if task.kind == "regression":
                head = output_layer(model.decoders[task.name])
                head.weight.zero_()
                if head.bias is not None:
                    head.bias.zero_()
