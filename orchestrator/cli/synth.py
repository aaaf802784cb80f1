"""``mtsweep synth``: synthetic scenes written in a dataset's real on-disk format."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from orchestrator.cli.common import CliError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="write synthetic data in the real on-disk format",
        epilog="example:\n  mtsweep synth taskonomy --to data/ --n 64 --size 64\n"
        "(the old spelling '--out DIR' still works)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", help="taskonomy or cityscapes (any registered dataset)")
    p.add_argument("--to", type=Path, default=None, help="directory to write into")
    p.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)  # old --to
    p.add_argument("--n", type=int, default=64, help="number of images (default: 64)")
    p.add_argument("--size", type=int, default=64, help="image side in pixels (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="scene seed, >= 0 (default: 0)")
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from tasks.datasets import get_dataset

    if args.n <= 0 or args.size < 8 or args.seed < 0:
        raise CliError("--n must be positive, --size at least 8 and --seed non-negative")
    to = args.to or args.out
    if to is None:
        raise CliError("give --to DIR, the directory to write into")
    if to.exists() and not to.is_dir():
        raise CliError(f"--to {to} is a file; give a directory")
    t0 = time.perf_counter()
    made = get_dataset(args.dataset).write_synthetic(to, n=args.n, size=args.size, seed=args.seed)
    seconds = time.perf_counter() - t0
    print(
        f"wrote {made.n_images} {args.dataset} images ({made.n_files} files) to "
        f"{made.out_dir} in {seconds:.1f} s ({made.n_images / max(seconds, 1e-9):.1f} images/s)"
    )
    return 0
