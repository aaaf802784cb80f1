"""``mtsweep compare``: a finished run's results beside the paper's published numbers."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.cli.common import format_arg

EPILOG = """examples:
  mtsweep compare --out runs/taskonomy-pairs-smoke
  mtsweep compare --out runs/taskonomy-pairs-paper --plot scorecard/ --format pdf
"""
SCORECARD = "scorecard"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="a run beside the paper's published numbers (Fig. 7, Tables 1-3)",
        description="Per cell ours, the paper's, the difference, sign agreement and whether "
        "the paper's gain lies in our 95 %% interval; per figure the sign agreement, the "
        "Spearman correlation and the summaries with and without principal curvature.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out", type=Path, required=True, help="the run folder (the --out of 'mtsweep run')"
    )
    p.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="folder for the scorecard table and pictures (default: <out>/results/)",
    )
    format_arg(p)
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from orchestrator.reductions.table import picture_path, write_result_table, write_text
    from orchestrator.scorecard import compare, heatmap, run_results
    from orchestrator.sweep.plan import REQUEST_FILE, read_request

    recorded = (args.out / REQUEST_FILE).exists()
    fig7, tables = run_results.load(args.out, read_request(args.out).sweep if recorded else None)
    card = compare.scorecard(fig7, tables)
    line = compare.summary(card)
    out_dir = args.plot or args.out / run_results.RESULTS
    picture_path(out_dir, SCORECARD, args.fmt)  # refuse a bad format before writing
    paths = [
        write_result_table(card, out_dir / f"{SCORECARD}.parquet", line),
        write_text(compare.markdown(card), out_dir / f"{SCORECARD}.md"),
        *heatmap.draw(card, out_dir, fmt=args.fmt),
    ]
    for path in paths:
        print(f"{'picture' if path.suffix.lstrip('.') == args.fmt else 'table'}: {path}")
    print(line)
    return 0
