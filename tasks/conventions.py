"""Target conventions: how Taskonomy labels are scaled, masked and weighted for training.

The paper's λ_a were tuned (in MTRobust) on the original Taskonomy scalings, while mtsweep
first followed Standley et al.'s; a loss weight only means what the paper meant under the
scalings it was chosen with (fidelity review S1-2). So the scaling is a named choice:

``standley`` (default)
    tstandley/taskgrouping ``taskonomy_loader.py``: (v − offset)/scale per domain, depth
    valid below 16 m, plain cross-entropy ignoring class 0.
``taskonomy``
    The original Taskonomy loaders that MTRobust trains with (``load_ops.py``, task
    configs; docs/formats.md §7): depth log(1+v)/log 2¹⁶ valid below 64500,
    edges and keypoints rescaled from their fixed ranges to [−1, 1], normals, reshading,
    keypoints3d and the autoencoder target in [−1, 1], curvature standardised on the raw
    8-bit code, segmentation cross-entropy weighted by ``semseg_prior_factor``; the
    depth-masked tasks masked where ``depth_euclidean`` is invalid (MTRobust
    ``task_data_loading.py``; Standley's loader uses ``depth_zbuffer``).
``mtrobust``
    ``taskonomy`` as the authors' copy of those loaders computed it: principal curvature
    read as one gray channel, then standardised (two near-constant targets). Only for
    replaying the authors' numbers (a preset's ``fidelity: authors``).

Cityscapes tasks are the same under every convention. A convention changes targets and
hence every regression metric's units (``Task.units``); channels and metric names stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tasks.errors import UnknownTaskError
from tasks.labels import (
    SEMSEG_PRIOR_FACTOR,
    TASKONOMY_SEG_IGNORE,
    decode_curvature_as_gray,
    decode_curvature_taskonomy,
    decode_depth_log,
    decode_reshading_signed,
    rescale16,
    signed,
)
from tasks.losses import make_ce_loss

STANDLEY = "standley"
TASKONOMY = "taskonomy"
MTROBUST = "mtrobust"
DEFAULT_CONVENTION = STANDLEY

_LOG_DEPTH = "log(1+v)/log(2^16) of the 1/512 m code, in [0, 1]"


@dataclass(frozen=True)
class Convention:
    """A named set of Task field overrides, keyed by (dataset, task name)."""

    name: str
    source: str
    overrides: Mapping[tuple[str, str], Mapping[str, Any]]
    # The Taskonomy depth domain whose validity masks the depth-masked tasks.
    depth_mask_domain: str = "depth_zbuffer"


def _signed_range(top: str) -> str:
    return f"[-1, 1] over v/65535 in [0, {top}]"


_TASKONOMY_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("taskonomy", "segment_semantic"): {
        # weight 0 for the ignored class 0, then the prior of classes v - 1 = 0..16
        "loss": make_ce_loss(TASKONOMY_SEG_IGNORE, (0.0, *SEMSEG_PRIOR_FACTOR)),
    },
    ("taskonomy", "depth_zbuffer"): {"decode": decode_depth_log, "units": _LOG_DEPTH},
    ("taskonomy", "depth_euclidean"): {"decode": decode_depth_log, "units": _LOG_DEPTH},
    ("taskonomy", "edge_texture"): {"decode": rescale16(0.08), "units": _signed_range("0.08")},
    ("taskonomy", "edge_occlusion"): {
        "decode": rescale16(0.00625, clip=False, blur=True),
        "units": _signed_range("0.00625") + ", Gaussian-blurred, not clipped",
    },
    ("taskonomy", "keypoints2d"): {"decode": rescale16(0.005), "units": _signed_range("0.005")},
    ("taskonomy", "keypoints3d"): {"decode": rescale16(1.0), "units": _signed_range("1")},
    ("taskonomy", "reshading"): {"decode": decode_reshading_signed, "units": "gray in [-1, 1]"},
    ("taskonomy", "principal_curvature"): {
        "decode": decode_curvature_taskonomy,
        "units": "(v - [123.572, 120.1]) / [31.922, 21.658] of the 8-bit code",
    },
    ("taskonomy", "autoencoder"): {"target_from_input": signed, "units": "RGB in [-1, 1]"},
}

_MTROBUST_OVERRIDES = {
    **_TASKONOMY_OVERRIDES,
    ("taskonomy", "principal_curvature"): {
        "decode": decode_curvature_as_gray,
        "units": "the file read as gray g in [0, 1]: (g - [123.572, 120.1]) / [31.922, 21.658]",
    },
}

CONVENTIONS: Mapping[str, Convention] = MappingProxyType(
    {
        STANDLEY: Convention(STANDLEY, "tstandley/taskgrouping taskonomy_loader.py", {}),
        TASKONOMY: Convention(
            TASKONOMY,
            "StanfordVL/taskonomy load_ops.py via columbia/MTRobust",
            MappingProxyType(_TASKONOMY_OVERRIDES),
            depth_mask_domain="depth_euclidean",
        ),
        MTROBUST: Convention(
            MTROBUST,
            "columbia/MTRobust task_data_loading.py (curvature read as gray)",
            MappingProxyType(_MTROBUST_OVERRIDES),
            depth_mask_domain="depth_euclidean",
        ),
    }
)


def get_convention(name: str) -> Convention:
    """A convention by name, or UnknownTaskError naming the known ones."""
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise UnknownTaskError(
            f"unknown target convention {name!r}; choose one of {', '.join(CONVENTIONS)}"
        ) from None
