"""Attack cost: seconds per PGD step against one forward+backward, and a plain PGD loop;
and a step of SegPGD, CosPGD and APGD against a PGD step on the same objective.

One PGD step should cost one forward and one input-gradient backward of the objective,
nothing more; SegPGD's and CosPGD's per-pixel weights and APGD's bookkeeping should add at
most 10 % to it (the segmentation task's objective, which all four accept). The
measurements alternate in rounds (so drift in the machine's speed hits all of them alike)
and the medians are compared. The reference loop calls
``backward()`` as a plain script would, so it also fills the weights' gradients, which an
attack does not need. Run as ``.venv/bin/python bench/bench_attack.py``; prints one JSON
object and appends a dated row under "Attack cost" in BENCHMARKS.md (``--tiny``: one round
of two steps on a small batch, as the test suite runs it; ``--width 64``: the paper's width).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import torch

from attacks import APGD, PGD, CosPGD, SegPGD
from attacks.objectives import multitask_objective, task_objective
from models import build_model
from tasks.registry import get_task

from record import command, record

TASKS = [get_task("taskonomy", "segment_semantic"), get_task("taskonomy", "depth_zbuffer")]
ROUNDS, STEPS = 5, 8
EPS, STEP_SIZE = 4 / 255, 1 / 255


def make_model(width: int) -> tuple[torch.nn.Module, str]:
    label = f"resnet18 width {width} (two task decoders)"
    return build_model("resnet18", TASKS, width=width), label


def reference_pgd(x: torch.Tensor, loss_fn: Callable, steps: int) -> torch.Tensor:
    """The textbook loop, written plainly: the yardstick for the library's PGD."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss_fn(x_adv).backward()
        with torch.no_grad():
            x_adv = x_adv + STEP_SIZE * x_adv.grad.sign()
            x_adv = torch.max(torch.min(x_adv, x + EPS), x - EPS).clamp(0, 1)
    return x_adv


def timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(tiny: bool = False, width: int = 16) -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch, size = (32, 256) if device.type == "cuda" else (8, 64)
    rounds, steps = ROUNDS, STEPS
    if tiny:
        batch, size, rounds, steps = 2, 16, 1, 2
    model, label = make_model(width)
    model.to(device).eval()
    x = torch.rand(batch, 3, size, size, device=device)
    targets = {
        TASKS[0].name: torch.randint(1, TASKS[0].channels, (batch, 1, size, size), device=device),
        TASKS[1].name: torch.randn(batch, 1, size, size, device=device),
    }
    loss_fn = multitask_objective(model, TASKS, targets, {})
    seg_fn = task_objective(model, TASKS[0], targets[TASKS[0].name], None)
    pgd = PGD(EPS, STEP_SIZE, steps)
    per_pixel = {
        "segpgd": SegPGD(EPS, STEP_SIZE, steps),
        "cospgd": CosPGD(EPS, STEP_SIZE, steps),
        "apgd": APGD(EPS, steps),
    }

    def forward_backward() -> None:
        for _ in range(steps):
            x_in = x.detach().requires_grad_(True)
            torch.autograd.grad(loss_fn(x_in), x_in)

    runs = {
        "forward_backward": forward_backward,
        "pgd": lambda: pgd(x, loss_fn),
        "reference_pgd": lambda: reference_pgd(x, loss_fn, steps),
        "seg_pgd": lambda: pgd(x, seg_fn),
        **{name: (lambda a=attack: a(x, seg_fn)) for name, attack in per_pixel.items()},
    }
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            times[name].append(timed(fn, device) / steps)
    per_step = {k: statistics.median(v) for k, v in times.items()}
    record(
        "Attack cost",
        command(),
        {
            "model": label,
            "device": device.type,
            "batch": batch,
            "image_px": size,
            "s_per_forward_backward": round(per_step["forward_backward"], 5),
            "s_per_pgd_step": round(per_step["pgd"], 5),
            "s_per_reference_pgd_step": round(per_step["reference_pgd"], 5),
            "pgd_step_over_forward_backward": round(
                per_step["pgd"] / per_step["forward_backward"], 3
            ),
            "pgd_step_over_reference_step": round(per_step["pgd"] / per_step["reference_pgd"], 3),
            "s_per_seg_pgd_step": round(per_step["seg_pgd"], 5),
            **{
                f"{name}_step_over_pgd_step": round(per_step[name] / per_step["seg_pgd"], 3)
                for name in per_pixel
            },
        },
        note=f"median of {rounds} alternating rounds of {steps} steps; "
        "forward_backward = one objective forward + input-gradient backward; "
        "segpgd/cospgd/apgd over PGD on the same segmentation objective",
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    # --width 64: the paper's network width, where the per-pixel weights' share of a step
    # is smaller than on the narrow default
    main(
        tiny="--tiny" in args,
        width=int(args[args.index("--width") + 1]) if "--width" in args else 16,
    )
