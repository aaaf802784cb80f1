"""``mtsweep list`` (the built-in sweeps) and ``mtsweep show`` (a sweep's trials or preset)."""

from __future__ import annotations

import argparse

from orchestrator.cli.common import plan_of, run_of, sweep_args


def add_parser(sub) -> None:
    lst = sub.add_parser("list", help="built-in sweeps, presets and trial counts")
    lst.set_defaults(handle=handle_list)
    show = sub.add_parser(
        "show",
        help="the expanded trials (or the resolved preset), without running",
        epilog="examples:\n  mtsweep show taskonomy-pairs --tasks s,d\n"
        "  mtsweep show cityscapes-single-task-attack --preset paper --config",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep_args(show)
    show.add_argument(
        "--config", action="store_true", help="print the resolved preset as YAML instead"
    )
    show.set_defaults(handle=handle_show)


def handle_list(args) -> int:
    from sweeps.definition import builtin_names, load_sweep

    rows = []
    for name in builtin_names():
        sweep = load_sweep(name)
        counts = ", ".join(
            f"{p}: {len(sweep.expand(p, require_data=False))}" for p in sweep.presets
        )
        rows.append((name, sweep.reproduces, counts))
    width = max(len(r[0]) for r in rows)
    for name, reproduces, counts in rows:
        print(f"{name:<{width}}  {reproduces:<34}  trials per preset: {counts}")
    return 0


def handle_show(args) -> int:
    import yaml

    if args.config:
        plan = plan_of(args)
        resolved = plan.sweep.resolved(plan.preset, list(plan.request.overrides))
        print(f"# {plan.sweep.name}/{plan.preset}, every default filled in")
        print(yaml.safe_dump(resolved, sort_keys=False).rstrip())
        return 0
    plan = run_of(args)  # a recorded run folder: its trials, without loading the sweep
    print(f"{plan.sweep_name}/{plan.preset}: {len(plan.specs)} trials (out: {plan.out})")
    rows = [
        (
            s.trial_key,
            "+".join(s.main_tasks),
            "+".join(f"{t}(λ={s.weights[t]:g})" for t in s.aux_tasks) or "-",
            str(s.seed),
            ",".join(s.evals),
        )
        for s in plan.specs
    ]
    header = ("trial_key", "main", "aux", "seed", "evals")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True))
        print(f"{cells}  {row[4]}")
    sweep = getattr(plan, "sweep", None)  # a recorded folder has run: it had its data
    if sweep is not None and sweep.needs_data_root(plan.preset) and not plan.request.data_root:
        print("(this preset reads real data: 'mtsweep run' needs --data-root)")
    return 0
