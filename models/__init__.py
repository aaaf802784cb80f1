"""Shared-encoder multitask networks (ResNet-18 for Taskonomy, DRN-D for Cityscapes)."""

from models.factory import ARCHS, build_model
from models.multitask import MultiTaskLoss, MultiTaskNet

__all__ = ["ARCHS", "MultiTaskLoss", "MultiTaskNet", "build_model"]
