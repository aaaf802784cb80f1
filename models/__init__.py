"""Shared-encoder multitask networks (ResNet-18 for Taskonomy, DRN-D for Cityscapes).

Every module of this package is imported here, so each architecture's
``@register_arch`` has run before anyone asks ``arch_names()`` or ``build_model``.
"""

import importlib
import pkgutil

from models.multitask import MultiTaskLoss, MultiTaskNet
from models.registry import UnknownArchError, arch_names, build_model, register_arch
from models.weights import WeightsError

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "MultiTaskLoss",
    "MultiTaskNet",
    "UnknownArchError",
    "WeightsError",
    "arch_names",
    "build_model",
    "register_arch",
]
