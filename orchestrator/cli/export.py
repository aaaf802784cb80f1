"""``mtsweep export``: the trials table from MLflow, as Parquet."""

from __future__ import annotations

from pathlib import Path

from orchestrator.cli.common import CliError, run_of, sweep_args


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="the trials table from MLflow, as Parquet",
        epilog="example:\n  mtsweep export --out runs/taskonomy-pairs-smoke --to trials.parquet",
    )
    sweep_args(p)
    p.add_argument("--to", type=Path, required=True, help="output .parquet file")
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from orchestrator.sweep.reading import export_trials
    from tasks.atomic import write_parquet

    if args.to.is_dir():
        raise CliError(f"--to {args.to} is a directory; give a .parquet file path")
    plan = run_of(args)
    table = export_trials(plan)
    write_parquet(table, args.to)
    print(f"wrote {len(table)} rows ({table['trial_key'].nunique()} trials) to {args.to}")
    return 0
