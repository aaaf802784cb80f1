"""Shared-encoder multitask networks (ResNet-18 for Taskonomy, DRN-D for Cityscapes).

Each architecture is registered below by name with its builder, whose module (and torch)
``build_model`` imports when it first builds one; the torch classes this package exports
load on first use too (``lazy_loader.attach``), so ``arch_names()`` imports no torch.
"""

import lazy_loader

from models.registry import UnknownArchError, arch_names, build_model, register_arch

# One line per architecture: its name and its builder.
register_arch("resnet18", "models.resnet_taskonomy:resnet18")
register_arch("resnet50", "models.resnet50_taskonomy:resnet50")
register_arch("drn_d_22", "models.drn:drn_d_22")
register_arch("drn_d_105", "models.drn:drn_d_105")

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={"multitask": ["MultiTaskLoss", "MultiTaskNet"], "weights": ["WeightsError"]},
)

__all__ = [
    "MultiTaskLoss",
    "MultiTaskNet",
    "UnknownArchError",
    "WeightsError",
    "arch_names",
    "build_model",
    "register_arch",
]
