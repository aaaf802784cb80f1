"""Distance to the machine's limit: a training step's achieved FLOP/s against matmul's.

FLOPs of one forward+backward+optimiser step are counted with
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products, the work
that matters); the step is then timed without the counter. The yardstick is the same
machine's dense matrix-multiply rate (float32 on the CPU, bf16 on a GPU) at the same thread
count. Two models: the smoke preset's (width 8, 32 px) and the paper preset's (width 64,
256 px; a smaller batch on the CPU). On a GPU the paper step runs with bf16 autocast and
channels-last, as the paper preset trains.
Run as ``.venv/bin/python bench/bench_flops.py`` (``--tiny``: small matrices and models,
one timed step each, as the test suite runs it).
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from models import MultiTaskLoss, build_model
from tasks.registry import get_task

from record import command, record

TASKS = [get_task("taskonomy", "normal"), get_task("taskonomy", "reshading")]
WEIGHTS = {"normal": 1.0, "reshading": 0.1}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_flops(device: torch.device, n: int = 2048, reps: int = 10) -> float:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def train_step_rate(
    width: int, size: int, batch: int, device: torch.device, reps: int
) -> dict[str, float]:
    model = build_model("resnet18", TASKS, width=width).to(device)
    fast = device.type == "cuda"
    if fast:
        model = model.to(memory_format=torch.channels_last)
    criterion = MultiTaskLoss(TASKS, WEIGHTS)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 3, size, size, device=device)
    targets = {t.name: torch.rand(batch, t.channels, size, size, device=device) for t in TASKS}

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
            out = model(x)
        loss, _ = criterion({k: v.float() for k, v in out.items()}, targets, {})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    step()
    times = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    return {
        "gflop_per_step": round(flops / 1e9, 3),
        "s_per_step": round(seconds, 4),
        "gflop_per_s": round(flops / seconds / 1e9, 2),
    }


def main(tiny: bool = False) -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if tiny:
        peak = matmul_flops(device, n=128, reps=2)
        smoke = train_step_rate(8, 16, 2, device, reps=1)
        paper_batch, paper = 2, smoke  # one small model stands for both
    else:
        peak = matmul_flops(device)
        smoke = train_step_rate(8, 32, 16, device, reps=20)
        paper_batch = 32 if device.type == "cuda" else 4
        reps = 10 if device.type == "cuda" else 3
        paper = train_step_rate(64, 256, paper_batch, device, reps=reps)
    numbers = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "matmul_gflop_per_s": round(peak / 1e9, 1),
        "smoke_step": smoke,
        "smoke_fraction_of_matmul": round(smoke["gflop_per_s"] * 1e9 / peak, 3),
        "paper_step_batch": paper_batch,
        "paper_step": paper,
        "paper_fraction_of_matmul": round(paper["gflop_per_s"] * 1e9 / peak, 3),
    }
    record(
        "Distance to the machine's limit",
        command(),
        numbers,
        "FLOPs from FlopCounterMode over one Adam step (forward, backward, update); "
        "matmul: 2048² " + ("bf16" if device.type == "cuda" else "float32"),
    )


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv[1:])
