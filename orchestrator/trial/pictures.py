"""The per-trial picture: the main task's prediction on a clean and an attacked image.

Like the paper's Fig. 1-3, it lets a reader see what an attack does to a model, next to
the numbers in MLflow. Panels are colour-mapped arrays pasted side by side with PIL: a
matplotlib figure per trial cost more than a smoke trial's whole evaluation.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageDraw

from sweeps.spec import TrialSpec
from tasks.registry import Task

PANEL = 128  # pixels per panel side (nearest-neighbour upscaling keeps label edges sharp)
TITLE = 14  # pixels of title strip above each panel

# Class colours (matplotlib's tab20) and the viridis ramp at nine even stops, as constants:
# a trial's picture needs no matplotlib, and neither does anything that imports this module.
CLASS_COLOURS = np.array(
    [
        (31, 119, 180), (174, 199, 232), (255, 127, 14), (255, 187, 120), (44, 160, 44),
        (152, 223, 138), (214, 39, 40), (255, 152, 150), (148, 103, 189), (197, 176, 213),
        (140, 86, 75), (196, 156, 148), (227, 119, 194), (247, 182, 210), (127, 127, 127),
        (199, 199, 199), (188, 189, 34), (219, 219, 141), (23, 190, 207), (158, 218, 229),
    ],
    dtype=np.uint8,
)  # fmt: skip
RAMP = np.array(
    [
        (68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
        (40, 174, 128), (94, 201, 98), (173, 220, 48), (253, 231, 37),
    ],
    dtype=float,
)  # fmt: skip


def _rgb(arr: np.ndarray, task: Task | None) -> np.ndarray:
    """An HxWx3 uint8 picture of an image (3xHxW in [0, 1]), a class map or a regression map."""
    if arr.ndim == 3 and arr.shape[0] == 3:
        return (np.transpose(np.clip(arr, 0, 1), (1, 2, 0)) * 255).astype(np.uint8)
    if task is not None and task.kind == "segmentation":
        ids = np.clip(np.asarray(arr, dtype=np.int64), 0, len(CLASS_COLOURS) - 1)
        return CLASS_COLOURS[ids]  # ignored pixels (255) take the last colour
    flat = arr[0] if arr.ndim == 3 else arr
    lo, hi = float(flat.min()), float(flat.max())
    at = (flat - lo) / max(hi - lo, 1e-6) * (len(RAMP) - 1)
    stops = np.arange(len(RAMP))
    return np.stack([np.interp(at, stops, RAMP[:, c]) for c in range(3)], axis=-1).astype(np.uint8)


def _as_picture(out: torch.Tensor, task: Task, is_label: bool = False) -> np.ndarray:
    """A prediction (or a label) of one image as the array ``_rgb`` draws."""
    if task.kind == "segmentation":
        return (out[0] if is_label else out.argmax(0)).cpu().numpy()
    arr = out.float().cpu().numpy()
    if arr.shape[0] == 3:  # normals in [-1, 1], images in [0, 1]: stretch to [0, 1]
        lo, hi = arr.min(), arr.max()
        return (arr - lo) / max(hi - lo, 1e-6)
    return arr[:1]


def _strip(panels: list[tuple[np.ndarray, str]], caption: str) -> bytes:
    """PNG bytes of the panels side by side under their titles, with a caption on top."""
    h, w = panels[0][0].shape[:2]
    scale = max(1, PANEL // max(h, w))
    ph, pw = h * scale, w * scale
    canvas = Image.new("RGB", (len(panels) * (pw + 4) + 4, ph + 2 * TITLE + 6), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), caption, fill="black")
    for i, (pic, title) in enumerate(panels):
        x = 4 + i * (pw + 4)
        draw.text((x, TITLE + 2), title, fill="black")
        tile = Image.fromarray(pic).resize((pw, ph), Image.NEAREST)
        canvas.paste(tile, (x, 2 * TITLE + 4))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def prediction_figure(
    model: torch.nn.Module,
    batch: dict,
    task: Task,
    spec: TrialSpec,
    device: torch.device,
    seen: dict[str, torch.Tensor],
) -> bytes:
    """PNG bytes of image / target / clean prediction / attacked image / attacked prediction.

    ``seen`` holds the first image as each evaluation saw it (``Evaluation.first_images``):
    the attacked image is the evaluation's own, not a second attack.
    """
    name = next((e for e in spec.evals if e != "clean"), "clean")
    x = batch["image"][:1].to(device)
    target = batch["targets"][task.name][:1]
    x_adv = seen.get(name, x).to(device)
    model.eval()
    with torch.no_grad():
        clean = model(x)[task.name][0]
        adv = model(x_adv)[task.name][0]
    panels = [
        (_rgb(x[0].cpu().numpy(), None), "image"),
        (_rgb(_as_picture(target[0], task, is_label=True), task), "target"),
        (_rgb(_as_picture(clean, task), task), "clean pred."),
        (_rgb(x_adv[0].cpu().numpy(), None), name),
        (_rgb(_as_picture(adv, task), task), "attacked pred."),
    ]
    return _strip(panels, f"{spec.label}  ({task.name})")
