"""The per-trial picture: the main task's prediction on a clean and an attacked image.

Like the paper's Fig. 1-3, it lets a reader see what an attack does to a model, next to
the numbers in MLflow.
"""

from __future__ import annotations

import io
import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from attacks.evals import build_attack, parse_eval  # noqa: E402
from attacks.objectives import task_objective  # noqa: E402
from sweeps.spec import TrialSpec  # noqa: E402
from tasks.registry import Task  # noqa: E402

log = logging.getLogger(__name__)


def _show(ax, arr: np.ndarray, title: str, task: Task | None) -> None:
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    if arr.ndim == 3 and arr.shape[0] == 3:
        ax.imshow(np.clip(np.transpose(arr, (1, 2, 0)), 0, 1))
    elif task is not None and task.kind == "segmentation":
        ax.imshow(arr, cmap="tab20", vmin=0, vmax=task.channels, interpolation="nearest")
    else:
        ax.imshow(arr[0] if arr.ndim == 3 else arr, cmap="viridis")


def _as_picture(pred: torch.Tensor, task: Task) -> np.ndarray:
    if task.kind == "segmentation":
        return pred.argmax(0).cpu().numpy()
    out = pred.float().cpu().numpy()
    if out.shape[0] == 3:  # normals in [-1, 1], images in [0, 1]: stretch to [0, 1]
        lo, hi = out.min(), out.max()
        return (out - lo) / max(hi - lo, 1e-6)
    return out[:1]


def prediction_figure(
    model: torch.nn.Module, batch: dict, task: Task, spec: TrialSpec, device: torch.device
) -> bytes | None:
    """PNG bytes of image / target / clean prediction / attacked image / attacked prediction."""
    attacks = [e for e in spec.evals if e != "clean" and not e.startswith("houdini")]
    x = batch["image"][:1].to(device)
    target = batch["targets"][task.name][:1].to(device)
    mask = batch["masks"][task.name][:1].to(device)
    model.eval()
    x_adv, name = x, "clean"
    if attacks:
        name = attacks[0]
        attack = build_attack(parse_eval(name))
        x_adv = attack(x, task_objective(model, task, target, mask))
    with torch.no_grad():
        clean = model(x)[task.name][0]
        adv = model(x_adv)[task.name][0]
    fig, axes = plt.subplots(1, 5, figsize=(10, 2.4))
    _show(axes[0], x[0].cpu().numpy(), "image", None)
    _show(
        axes[1],
        target[0].cpu().numpy() if task.kind != "segmentation" else target[0, 0].cpu().numpy(),
        f"{task.name} target",
        task,
    )
    _show(axes[2], _as_picture(clean, task), "clean prediction", task)
    _show(axes[3], x_adv[0].detach().cpu().numpy(), f"{name} image", None)
    _show(axes[4], _as_picture(adv, task), f"{name} prediction", task)
    fig.suptitle(spec.label, fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
