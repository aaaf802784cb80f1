"""The per-trial picture: the main task's prediction on a clean and an attacked image.

Like the paper's Fig. 1-3, it lets a reader see what an attack does to a model, next to
the numbers in MLflow. Panels are colour-mapped arrays pasted side by side with PIL: a
matplotlib figure per trial cost more than a smoke trial's whole evaluation.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image, ImageDraw

from sweeps.spec import TrialSpec
from tasks.registry import Task

PANEL = 128  # pixels per panel side (nearest-neighbour upscaling keeps label edges sharp)
TITLE = 14  # pixels of title strip above each panel


def _rgb(arr: np.ndarray, task: Task | None) -> np.ndarray:
    """An HxWx3 uint8 picture of an image (3xHxW in [0, 1]), a class map or a regression map."""
    if arr.ndim == 3 and arr.shape[0] == 3:
        pic = np.transpose(np.clip(arr, 0, 1), (1, 2, 0))
    elif task is not None and task.kind == "segmentation":
        pic = colormaps["tab20"](np.asarray(arr, dtype=float) / 20.0)[..., :3]
    else:
        flat = arr[0] if arr.ndim == 3 else arr
        lo, hi = float(flat.min()), float(flat.max())
        pic = colormaps["viridis"]((flat - lo) / max(hi - lo, 1e-6))[..., :3]
    return (pic * 255).astype(np.uint8)


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

    ``seen`` holds the first image as each evaluation saw it (``evaluate(first_images=)``):
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
