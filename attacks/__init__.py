"""L∞ attacks on images in [0, 1]: ``attack(x, loss_fn) -> x_adv`` (see DESIGN.md)."""

from attacks.base import Attack
from attacks.fgsm import FGSM
from attacks.houdini import Houdini
from attacks.mim import MIM
from attacks.pgd import PGD

__all__ = ["FGSM", "MIM", "PGD", "Attack", "Houdini"]
