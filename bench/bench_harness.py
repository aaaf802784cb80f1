"""Harness overhead: one smoke trial through mtsweep against the same work as a plain loop.

The trial is the ``taskonomy-pairs`` smoke pair normal+reshading (main task normal): train
its epochs, then evaluate the main task clean and under PGD-50 at ε=4. The mtsweep side is
``orchestrator.trial.run_trial`` (checkpoint per epoch, meters, prediction picture,
result dict); the plain side is the same model, data, optimiser, loss and attack written
as the loops one would type in a notebook. Both read the same decoded images (the reader
cache a sweep's worker keeps between trials is warm for both), one thread each as in the
sweep, alternating rounds; the ratio of medians is the overhead.
Run as ``.venv/bin/python bench/bench_harness.py`` (``--tiny``: one round of a one-epoch
trial under PGD-2, as the test suite runs it).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from attacks.eval_names import parse_eval
from models import build_model
from orchestrator.trial.data import ensure_data, open_split
from orchestrator.trial.run import run_trial, seed_everything
from sweeps.definition import load_sweep
from sweeps.spec import TrialSpec
from tasks.batches import collate
from tasks.registry import get_task

from record import command, record

ROUNDS = 5
EPS, STEP = 4 / 255, 1 / 255
# --tiny: the same trial cut to one epoch of 48 scenes, 8 attacked images, PGD-2.
TINY = ["data.n=48", "train.epochs=1", "evaluation.n_images=8", "evals=[clean,pgd2_eps4]"]


def pair_spec(overrides: list[str] | None = None) -> TrialSpec:
    specs = load_sweep("taskonomy-pairs").expand(
        "smoke", tasks=["normal", "reshading"], overrides=overrides
    )
    return next(s for s in specs if s.main_tasks == ("normal",) and s.aux_tasks == ("reshading",))


def pgd_steps(spec: TrialSpec) -> int:
    """The steps of the trial's one attack."""
    return parse_eval(spec.evals[1]).steps


def plain_trial(spec: TrialSpec) -> float:
    """The trial as plain PyTorch; returns the main task's clean-minus-attacked L1 gap."""
    seed_everything(spec.seed)
    cfg = spec.config
    tasks = [get_task("taskonomy", n) for n in spec.train_tasks]
    main = tasks[0]
    root = ensure_data("taskonomy", cfg.data)
    train_set = open_split("taskonomy", root, cfg.data, tasks, "train")
    val_set = open_split("taskonomy", root, cfg.data, tasks, "val", limit=cfg.evaluation.n_images)
    model = build_model(spec.arch, tasks, **cfg.model.network())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    batch_size = cfg.train.batch_size
    for epoch in range(cfg.train.epochs):
        loader = DataLoader(
            train_set,
            batch_size=batch_size,
            shuffle=True,
            collate_fn=collate,
            generator=torch.Generator().manual_seed(epoch),
            drop_last=True,
        )
        model.train()
        for batch in loader:
            out = model(batch["image"])
            loss = sum(
                spec.weights[t.name]
                * t.loss(out[t.name], batch["targets"][t.name], batch["masks"].get(t.name)).mean()
                for t in tasks
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    batch = collate([val_set[i] for i in range(len(val_set))])
    x, y, m = batch["image"], batch["targets"][main.name], batch["masks"].get(main.name)
    x_adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
    for _ in range(pgd_steps(spec)):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(main.loss(model(x_adv)[main.name], y, m).mean(), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + STEP * grad.sign(), x - EPS), x + EPS)
        x_adv = x_adv.clamp(0, 1)
    with torch.no_grad():
        gap = main.loss(model(x_adv)[main.name], y, m) - main.loss(model(x)[main.name], y, m)
        return float(gap.mean())


def harness_trial(spec: TrialSpec) -> float:
    with tempfile.TemporaryDirectory() as storage:  # fresh storage: no checkpoint to resume
        result = run_trial(spec, Path(storage), threads=1)
    metrics = result.metrics
    return metrics[f"{spec.evals[1]}/normal/l1"] - metrics["clean/normal/l1"]


def main(tiny: bool = False) -> None:
    torch.set_num_threads(1)
    spec = pair_spec(TINY if tiny else None)
    assert spec.evals[0] == "clean" and parse_eval(spec.evals[1]).attack == "pgd", spec.evals
    gaps = {"plain": plain_trial(spec), "mtsweep": harness_trial(spec)}  # warm-up: data, caches
    times: dict[str, list[float]] = {"plain": [], "mtsweep": []}
    for _ in range(1 if tiny else ROUNDS):
        for name, fn in (("plain", plain_trial), ("mtsweep", harness_trial)):
            t0 = time.perf_counter()
            fn(spec)
            times[name].append(time.perf_counter() - t0)
    plain, ours = (statistics.median(times[k]) for k in ("plain", "mtsweep"))
    record(
        "Harness overhead",
        command(),
        {
            "trial": spec.label,
            "s_plain_loop": round(plain, 3),
            "s_mtsweep_trial": round(ours, 3),
            "mtsweep_over_plain": round(ours / plain, 3),
            "attack_raises_l1_plain": gaps["plain"] > 0,
            "attack_raises_l1_mtsweep": gaps["mtsweep"] > 0,
            "rounds": len(times["plain"]),
        },
        "median of alternating rounds, 1 thread each; mtsweep side includes its checkpoints "
        "(as the preset asks), meters and the prediction picture",
    )


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv[1:])
