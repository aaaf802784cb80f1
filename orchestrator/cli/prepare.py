"""``mtsweep prepare``: decode a sweep's data once into a packed, memory-mapped dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.cli.common import CliError, number, plan_of, sweep_args

EPILOG = """examples:
  mtsweep prepare taskonomy-pairs --preset paper --data-root /data/taskonomy \\
      --to /data/taskonomy-packed-256 --workers 8
  mtsweep run taskonomy-pairs --preset paper --data-root /data/taskonomy-packed-256
  mtsweep prepare --out runs/fig7-paper --to /data/packed  # the sweep recorded in a run dir
  mtsweep prepare taskonomy-pairs --preset paper --data-root /data/taskonomy \
      --to s3://bucket/taskonomy-packed-256   # published to object storage, manifest last
  mtsweep run taskonomy-pairs --preset paper --data-root s3://bucket/taskonomy-packed-256
Running the same command again continues an interrupted prepare. The old spelling
'--out PACKED' (without --to) still works.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "prepare",
        help="pack a sweep's data into memory-mapped arrays trials share (resumable)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep_args(p)
    p.add_argument(
        "--to",
        default=None,
        help="where to write the packed dataset: a directory, or an object-store prefix "
        "(s3://bucket/prefix; packed locally under $MTSWEEP_CACHE, then uploaded)",
    )
    p.add_argument(
        "--workers",
        type=number(int, 1),
        default=1,
        help="local processes decoding chunks (default: 1, in this process)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster address: decode chunks as Ray tasks (the data root must be on "
        "storage every node sees; this process writes the packed arrays)",
    )
    p.add_argument(
        "--target-dtype",
        choices=("float32", "float16"),
        default="float32",
        help="stored dtype of continuous targets: float32 keeps them exactly, float16 "
        "halves their size at 2^-11 relative error (default: float32)",
    )
    p.add_argument(
        "--chunk", type=number(int, 1), default=256, help="samples per chunk (default: 256)"
    )
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from mtsweep.shared_storage import is_uri
    from orchestrator.sweep.prepare import prepare
    from tasks.packed.manifest import describe

    target = args.to
    if target is None and args.sweep is not None:  # the old spelling: --out PACKED
        target, args.out = args.out, None
    if target is None:
        raise CliError("give --to PACKED, the directory to write the packed data to")
    if args.to is None and is_uri(target):  # --out is a path: it cannot hold a URI
        raise CliError(f"--out {target}: give an object-store destination with --to")
    plan = plan_of(args)
    manifest = prepare(
        plan,
        target,
        workers=args.workers,
        address=args.address,
        target_dtype=args.target_dtype,
        chunk_size=args.chunk,
    )
    where = str(target) if is_uri(target) else str(Path(target).resolve())
    print(f"packed {describe(manifest)} in {where}")
    print(f"use it with: --data-root {where}")
    return 0
