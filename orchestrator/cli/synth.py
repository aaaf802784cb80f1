"""``mtsweep synth``: synthetic scenes written in a dataset's real on-disk format."""

from __future__ import annotations

import time
from pathlib import Path

from orchestrator.cli.common import CliError


def add_parser(sub) -> None:
    p = sub.add_parser("synth", help="write synthetic data in the real on-disk format")
    p.add_argument("dataset", help="taskonomy or cityscapes (any registered dataset)")
    p.add_argument("--out", type=Path, required=True, help="directory to write into")
    p.add_argument("--n", type=int, default=64, help="number of images (default: 64)")
    p.add_argument("--size", type=int, default=64, help="image side in pixels (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="scene seed, >= 0 (default: 0)")
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from tasks.datasets import get_dataset

    if args.n <= 0 or args.size < 8 or args.seed < 0:
        raise CliError("--n must be positive, --size at least 8 and --seed non-negative")
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out} is a file; give a directory")
    t0 = time.perf_counter()
    made = get_dataset(args.dataset).write_synthetic(
        args.out, n=args.n, size=args.size, seed=args.seed
    )
    seconds = time.perf_counter() - t0
    print(
        f"wrote {made.n_images} {args.dataset} images ({made.n_files} files) to "
        f"{made.out_dir} in {seconds:.1f} s ({made.n_images / max(seconds, 1e-9):.1f} images/s)"
    )
    return 0
