"""bf16 autocast against fp32 on a small-error task: one DepthE (depth_euclidean) baseline
trained twice, identically but for a bf16 autocast around the forward pass, and evaluated
in fp32 (clean L1 on the validation split).

The targets are the ``taskonomy`` convention's log depth (log(1+v)/log 2¹⁶, 0.56–0.75 for
1–8 m), where bf16's rounding is ~1e-3: the scale of the paper's DepthE L1 (6.37e-3 clean).
A trial autocasts only on CUDA; this bench autocasts on the CPU instead (the same bf16
rounding of activations), at a scale two shared cores finish: synthetic rooms, a narrow
ResNet-18. Run as ``.venv/bin/python bench/bench_amp_depth.py`` (``--tiny``: one epoch,
one seed); a dated row is appended under "bf16 and DepthE" in BENCHMARKS.md.
"""

from __future__ import annotations

import sys
import time

import torch

from attacks.evaluation import evaluate
from models import build_model
from orchestrator.trial.data import ensure_data, open_split
from orchestrator.trial.run import batches_of, seed_everything
from sweeps.presets import DataConfig
from tasks.batches import collate
from tasks.registry import get_task

from record import command, record

DATA = DataConfig(source="synthetic", n=128, size=32, seed=0, convention="taskonomy")
TINY_DATA = DataConfig(source="synthetic", n=24, size=16, seed=0, convention="taskonomy")
BATCH, LR, WIDTH = 16, 0.005, 8
EPOCHS, SEEDS = 20, (0, 1, 2)  # one run says nothing: bf16 also changes the training path
TINY_EPOCHS, TINY_SEEDS = 1, (0,)


def train_and_evaluate(bf16: bool, seed: int, epochs: int, data: DataConfig) -> float:
    """Clean validation L1 of a DepthE baseline trained with or without bf16 autocast."""
    seed_everything(seed)
    task = get_task("taskonomy", "depth_euclidean", convention=data.convention)
    root = ensure_data("taskonomy", data)
    train, val = (open_split("taskonomy", root, data, [task], s) for s in ("train", "val"))
    model = build_model("resnet18", [task], width=WIDTH)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(train), generator=order).tolist()
        for start in range(0, len(perm), BATCH):
            batch = collate([train[i] for i in perm[start : start + BATCH]])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = model(batch["image"])[task.name]
            mask = batch["masks"].get(task.name)
            loss = task.loss(out.float(), batch["targets"][task.name], mask).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    result = evaluate(
        model,
        batches_of(val, BATCH)(),
        tasks=[task],
        evals=["clean"],
        attacked=[task],
        report=[task],
        device="cpu",
        seed=seed,
    )
    return result.metrics["clean"][task.name]["l1"]


def main(tiny: bool = False) -> None:
    epochs, seeds, data = (TINY_EPOCHS, TINY_SEEDS, TINY_DATA) if tiny else (EPOCHS, SEEDS, DATA)
    t0 = time.perf_counter()
    fp32 = [train_and_evaluate(False, s, epochs, data) for s in seeds]
    bf16 = [train_and_evaluate(True, s, epochs, data) for s in seeds]
    mean_fp32, mean_bf16 = sum(fp32) / len(fp32), sum(bf16) / len(bf16)
    record(
        "bf16 and DepthE",
        command(),
        {
            "seeds": len(seeds),
            "epochs": epochs,
            "fp32_l1": [round(v, 5) for v in fp32],
            "bf16_l1": [round(v, 5) for v in bf16],
            "mean_fp32_l1": round(mean_fp32, 5),
            "mean_bf16_l1": round(mean_bf16, 5),
            "relative_change_pct": round((mean_bf16 - mean_fp32) / mean_fp32 * 100, 1),
            "seconds": round(time.perf_counter() - t0, 1),
        },
        f"one depth_euclidean baseline ({data.convention} convention: log depth), synthetic "
        f"n={data.n} at {data.size} px, ResNet-18 width {WIDTH}, batch {BATCH}, Adam {LR}; "
        "with and without bf16 autocast around the forward pass (CPU), evaluated in fp32",
    )


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv[1:])
