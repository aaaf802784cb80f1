"""Shared-encoder multitask networks (ResNet-18 for Taskonomy, DRN-D for Cityscapes).

Each architecture module is imported here by name, so its ``@register_arch`` has run
before anyone asks ``arch_names()`` or ``build_model``.
"""

from models import (  # one line per architecture module; importing it registers its builders
    drn,  # noqa: F401
    resnet50_taskonomy,  # noqa: F401
    resnet_taskonomy,  # noqa: F401
)
from models.multitask import MultiTaskLoss, MultiTaskNet
from models.registry import UnknownArchError, arch_names, build_model, register_arch
from models.weights import WeightsError

__all__ = [
    "MultiTaskLoss",
    "MultiTaskNet",
    "UnknownArchError",
    "WeightsError",
    "arch_names",
    "build_model",
    "register_arch",
]
