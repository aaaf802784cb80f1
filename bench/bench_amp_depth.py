"""bf16 autocast against fp32 on a small-error task: one DepthE (depth_euclidean) baseline
trained twice, identically but for a bf16 autocast around the forward pass, and evaluated
in fp32 (clean L1 on the validation split).

The targets are the ``taskonomy`` convention's log depth (log(1+v)/log 2¹⁶, 0.56–0.75 for
1–8 m), where bf16's rounding is ~1e-3: the scale of the paper's DepthE L1 (6.37e-3 clean).
A trial autocasts only on CUDA; this bench autocasts on the CPU instead (the same bf16
rounding of activations), at a scale two shared cores finish: synthetic rooms, a narrow
ResNet-18. Run as ``.venv/bin/python bench/bench_amp_depth.py``; its last line is JSON.
"""

from __future__ import annotations

import json
import time

import torch

from attacks.evaluation import evaluate
from models import build_model
from orchestrator.trial.data import ensure_data, open_split
from orchestrator.trial.run import batches_of, seed_everything
from sweeps.presets import DataConfig
from tasks.batches import collate
from tasks.registry import get_task

DATA = DataConfig(source="synthetic", n=128, size=32, seed=0, convention="taskonomy")
EPOCHS, BATCH, LR, WIDTH = 20, 16, 0.005, 8
SEEDS = (0, 1, 2)  # one run says nothing: bf16 also changes the training path


def train_and_evaluate(bf16: bool, seed: int) -> float:
    """Clean validation L1 of a DepthE baseline trained with or without bf16 autocast."""
    seed_everything(seed)
    task = get_task("taskonomy", "depth_euclidean", convention=DATA.convention)
    root = ensure_data("taskonomy", DATA)
    train, val = (open_split("taskonomy", root, DATA, [task], s) for s in ("train", "val"))
    model = build_model("resnet18", [task], width=WIDTH)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    order = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
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
        model, batches_of(val, BATCH)(), [task], ["clean"], [task], [task], "cpu", seed
    )
    return result["clean"][task.name]["l1"]


def main() -> None:
    t0 = time.perf_counter()
    fp32 = [train_and_evaluate(False, s) for s in SEEDS]
    bf16 = [train_and_evaluate(True, s) for s in SEEDS]
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    print(
        json.dumps(
            {
                "bench": "amp_depth",
                "task": "depth_euclidean",
                "data": f"synthetic n={DATA.n} size={DATA.size} convention={DATA.convention}",
                "train": f"resnet18 width {WIDTH}, {EPOCHS} epochs, batch {BATCH}, adam {LR}",
                "seeds": list(SEEDS),
                "fp32_l1": fp32,
                "bf16_l1": bf16,
                "mean_fp32_l1": mean(fp32),
                "mean_bf16_l1": mean(bf16),
                "relative_change_pct": (mean(bf16) - mean(fp32)) / mean(fp32) * 100,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
