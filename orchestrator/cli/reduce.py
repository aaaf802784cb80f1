"""``mtsweep reduce``: a sweep's result table (Parquet) and pictures, from MLflow or a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.cli.common import CliError, format_arg, print_reduced, set_arg

EPILOG = """examples:
  mtsweep reduce --run-dir runs/taskonomy-pairs-smoke --out fig7.parquet --plot pictures/
  mtsweep reduce --from-table trials.parquet --reduction fig7 --out fig7.parquet
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
        "--run-dir",
        type=Path,
        default=None,
        help="the sweep's run directory, the --out of 'mtsweep run' (default: runs/<sweep>-<preset>/)",
    )
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
    p.add_argument("--out", type=Path, required=True, help="output .parquet file")
    p.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="directory for the pictures and the tables as Markdown/LaTeX",
    )
    format_arg(p)
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from orchestrator.reductions import get_reduction, reduce_to
    from orchestrator.reductions.table import load_trials_table

    if args.out.is_dir():
        raise CliError(f"--out {args.out} is a directory; give a .parquet file path")
    if args.sweep is None and args.run_dir is None and args.from_table is None:
        raise CliError("give a SWEEP, a --run-dir or --from-table FILE")
    if args.from_table is not None and (args.sweep is not None or args.run_dir is not None):
        raise CliError("give either a SWEEP/--run-dir or --from-table FILE (not both)")
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
                out=args.run_dir,
                tracking_uri=args.tracking_uri,
            )
        )
        trials = export_trials(plan)
        dataset = plan.sweep.dataset
        reduction = plan.sweep.reduction
    print_reduced(*reduce_to(trials, reduction, dataset, args.out, args.plot, fmt=args.fmt))
    return 0
