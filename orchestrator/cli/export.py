"""``mtsweep export``: the trials table from MLflow, as Parquet or CSV (the file's suffix says)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.cli.common import CliError, run_of, sweep_args

SUFFIXES = (".parquet", ".csv")  # the formats of --to, named by its suffix


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="the trials table from MLflow, as Parquet or CSV",
        epilog="example:\n  mtsweep export --out runs/taskonomy-pairs-smoke --to trials.parquet",
    )
    sweep_args(p)
    p.add_argument(
        "--to", type=Path, required=True, help="output file: .parquet or .csv (by its suffix)"
    )
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from mtsweep.atomic import replace_atomically, write_parquet
    from orchestrator.sweep.reading import export_trials

    if args.to.is_dir():
        raise CliError(f"--to {args.to} is a directory; give a .parquet or .csv file path")
    suffix = args.to.suffix.lower()
    if suffix not in SUFFIXES:
        raise CliError(
            f"--to {args.to}: unknown suffix {args.to.suffix or '(none)'!r}; "
            "name a .parquet or .csv file"
        )
    table = export_trials(run_of(args))
    if suffix == ".csv":
        replace_atomically(args.to, lambda tmp: table.to_csv(tmp, index=False))
    else:
        write_parquet(table, args.to)
    print(f"wrote {len(table)} rows ({table['trial_key'].nunique()} trials) to {args.to}")
    return 0
