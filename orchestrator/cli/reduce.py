"""``mtsweep reduce``: a sweep's result table (Parquet) and pictures, from MLflow or a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.cli.common import CliError, format_arg, print_reduced, set_arg

EPILOG = """examples:
  mtsweep reduce --out runs/taskonomy-pairs-smoke --to fig7.parquet --plot pictures/
  mtsweep reduce --from-table trials.parquet --reduction fig7 --to fig7.parquet
--out is the run directory, as in every command; the old spelling
'--run-dir RUNDIR --out FILE.parquet' still works.
"""


def add_parser(sub) -> None:
    from orchestrator.reductions import reduction_names  # lists module names; imports none

    p = sub.add_parser(
        "reduce",
        help="the sweep's result table (Parquet) and pictures",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sweep", nargs="?", default=None, help="a built-in sweep name or YAML path")
    p.add_argument("--preset", default=None, help="preset of the sweep (default: smoke)")
    set_arg(p)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the sweep's run directory, the --out of 'mtsweep run' (default: "
        "runs/<sweep>-<preset>/); with the old spelling (no --to), the .parquet file",
    )
    p.add_argument(
        "--to",
        type=Path,
        default=None,
        help="the result table to write, a .parquet file (default with a run directory: "
        "<out>/results/<reduction>.parquet)",
    )
    p.add_argument("--run-dir", type=Path, default=None, help=argparse.SUPPRESS)  # old --out
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI of the sweep")
    p.add_argument("--from-table", type=Path, default=None, help="a trials table (.parquet)")
    p.add_argument(
        "--dataset",
        default=None,
        help="dataset of --from-table (default: inferred from its task names)",
    )
    p.add_argument(
        "--reduction",
        default="fig7",
        help=f"how to reduce --from-table: {', '.join(reduction_names())} (a SWEEP uses its own)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="directory for the pictures and the tables as Markdown/LaTeX",
    )
    format_arg(p)
    p.set_defaults(handle=handle)


def _run_dir_and_file(args) -> tuple[Path | None, Path | None]:
    """(run directory, table file) from the new spelling (--out RUNDIR --to FILE) or the old
    one (--run-dir RUNDIR --out FILE, or --from-table … --out FILE)."""
    old = args.run_dir is not None or (
        args.to is None
        and args.out is not None
        and (args.from_table is not None or args.out.suffix == ".parquet")
    )
    if not old:
        return args.out, args.to
    if args.to is not None:
        raise CliError(
            "give --out RUNDIR --to FILE.parquet (or the old --run-dir RUNDIR --out FILE)"
        )
    return args.run_dir, args.out


def handle(args) -> int:
    from orchestrator.reductions import get_reduction, reduce_to
    from orchestrator.reductions.table import load_trials_table

    run_dir, to = _run_dir_and_file(args)
    if to is not None and to.is_dir():
        raise CliError(f"--to {to} is a directory; give a .parquet file path")
    if args.sweep is None and run_dir is None and args.from_table is None:
        raise CliError("give a SWEEP, the --out of a run or --from-table FILE")
    if args.from_table is not None and (args.sweep is not None or run_dir is not None):
        raise CliError("give either a SWEEP/--out RUNDIR or --from-table FILE (not both)")
    if args.from_table is not None and to is None:
        raise CliError("give --to FILE.parquet, the result table to write")
    if args.from_table is not None:
        from tasks.registry import infer_dataset

        get_reduction(args.reduction)
        trials = load_trials_table(args.from_table)
        dataset = args.dataset or infer_dataset(set(trials["task"]))
        reduction = args.reduction
    else:
        from orchestrator.cli.common import plan_of
        from orchestrator.sweep.reading import export_trials

        plan = plan_of(
            argparse.Namespace(
                sweep=args.sweep,
                preset=args.preset,
                overrides=args.overrides,
                out=run_dir,
                tracking_uri=args.tracking_uri,
            )
        )
        trials = export_trials(plan)
        dataset = plan.sweep.dataset
        reduction = plan.sweep.reduction
        to = to or plan.out / "results" / f"{reduction}.parquet"
    print_reduced(*reduce_to(trials, reduction, dataset, to, args.plot, fmt=args.fmt))
    return 0
