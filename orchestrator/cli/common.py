"""Arguments every sweep command shares, and the parser that errs in one line."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from mtsweep.errors import MtsweepError


class CliError(MtsweepError):
    """A usage error found by the CLI itself."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} -h')\n")
        raise SystemExit(2)


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def seeds(value: str) -> list[int]:
    try:
        out = [int(v) for v in csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds wants integers like 0,1,2, got {value!r}"
        ) from None
    if not out or any(s < 0 for s in out):
        raise argparse.ArgumentTypeError(f"--seeds wants non-negative integers, got {value!r}")
    return out


def number(kind: type, low: float = 0):
    """An argparse type: a finite ``kind`` (int or float) of at least ``low``."""

    def parse(value: str):
        try:
            v = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
        if not math.isfinite(v) or v < low:
            raise argparse.ArgumentTypeError(f"expected a finite number >= {low:g}, got {value!r}")
        return v

    return parse


def set_arg(p: argparse.ArgumentParser) -> None:
    """--set KEY=VALUE, repeatable."""
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset value by its dotted path, e.g. --set train.epochs=3 "
        "(repeatable; the value is read as YAML; it changes trial identity like an edit "
        "of the YAML would)",
    )


def format_arg(p: argparse.ArgumentParser) -> None:
    """--format png|pdf|svg of the pictures a reduction draws."""
    p.add_argument(
        "--format",
        dest="fmt",
        choices=("png", "pdf", "svg"),
        default="png",
        help="file format of the pictures (default: png)",
    )


RUN_DIR_HELP = (
    "run directory (default: runs/<sweep>-<preset>/); it records the request, so later "
    "commands given --out need nothing else"
)


def sweep_args(p: argparse.ArgumentParser, out_help: str = RUN_DIR_HELP) -> None:
    """SWEEP, --preset, --set, --out, --tracking-uri, --tasks, --seeds, --data-root."""
    p.add_argument(
        "sweep",
        nargs="?",
        default=None,
        help="a built-in sweep name (see 'mtsweep show') or a YAML path; "
        "omit it to use the sweep recorded in --out",
    )
    p.add_argument("--preset", default=None, help="preset of the sweep (default: smoke)")
    set_arg(p)
    p.add_argument("--out", type=Path, default=None, help=out_help)
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: sqlite:///<out>/mlflow.db)",
    )
    p.add_argument(
        "--tasks",
        type=csv,
        default=None,
        help="keep only models trained on these tasks: names or the paper's letters "
        "(s segment_semantic, d depth_zbuffer, D depth_euclidean, n normal, "
        "e edge_texture, E edge_occlusion, k keypoints2d, K keypoints3d, "
        "p principal_curvature, r reshading, A autoencoder; Cityscapes d = depth)",
    )
    p.add_argument("--seeds", type=seeds, default=None, help="seeds, e.g. 0,1,2")
    p.add_argument("--data-root", default=None, help="real dataset directory")


def request_of(args: argparse.Namespace):
    """The sweep request the arguments name: given explicitly, or recorded in --out."""
    from orchestrator.sweep.plan import Request, read_request

    tasks = getattr(args, "tasks", None)
    seeds_ = getattr(args, "seeds", None)
    data_root = getattr(args, "data_root", None)
    if args.sweep is None:
        if args.out is None:
            raise CliError("give a SWEEP (and --preset), or the --out of an earlier run")
        recorded = read_request(args.out)
        if args.preset not in (None, recorded.preset):
            raise CliError(
                f"{args.out} holds preset {recorded.preset!r}, not {args.preset!r}; "
                "give the SWEEP to plan another preset"
            )
        return Request(
            sweep=recorded.sweep,
            preset=recorded.preset,
            overrides=tuple(args.overrides) or recorded.overrides,
            tasks=tuple(tasks) if tasks else recorded.tasks,
            seeds=tuple(seeds_) if seeds_ else recorded.seeds,
            data_root=data_root or recorded.data_root,
            tracking_uri=args.tracking_uri or recorded.tracking_uri,
            storage=getattr(args, "storage", None) or recorded.storage,
        )
    sweep = args.sweep
    if Path(sweep).suffix in (".yaml", ".yml") or Path(sweep).exists():
        sweep = str(Path(sweep).resolve())
    storage = getattr(args, "storage", None)
    return Request(
        sweep=sweep,
        preset=args.preset or "smoke",
        overrides=tuple(args.overrides),
        tasks=tuple(tasks) if tasks else None,
        seeds=tuple(seeds_) if seeds_ else None,
        data_root=_absolute(data_root) if data_root else None,
        tracking_uri=args.tracking_uri,
        storage=str(storage) if storage else None,
    )


def _absolute(location: str) -> str:
    """A path made absolute; an object-store URI (a packed dataset) as given."""
    from mtsweep.shared_storage import is_uri

    return location if is_uri(location) else str(Path(location).expanduser().resolve())


def plan_of(args: argparse.Namespace, require_data: bool = False, **flags):
    """The plan of the arguments' request (a real-data preset needs no root unless running)."""
    from orchestrator.sweep.plan import make_plan
    from orchestrator.sweep.request_guard import with_recorded_extensions

    plan = make_plan(request_of(args), out=args.out, require_data=require_data, **flags)
    return with_recorded_extensions(plan, require_data=require_data, **flags)


def run_of(args: argparse.Namespace):
    """What a reading command asks about: the trials recorded in ``--out`` when the
    arguments only name the folder (read without loading the sweep's code), else the plan
    of the arguments."""
    from orchestrator.sweep.plan import read_run_folder

    narrowed = args.overrides or any(
        getattr(args, name, None) for name in ("preset", "tasks", "seeds", "data_root")
    )
    if args.sweep is None and args.out is not None and not narrowed:
        folder = read_run_folder(args.out)
        if folder is not None:
            if args.tracking_uri:
                folder.tracking_uri = args.tracking_uri
            return folder
    return plan_of(args)


# MLflow's run states as the CLI names them; KILLED is a trial whose driver was stopped.
STATE_NAMES = {
    "FINISHED": "finished",
    "FAILED": "failed",
    "RUNNING": "running",
    "KILLED": "interrupted",
    "PENDING": "pending",
}


def states_line(states, total: int) -> str:
    parts = [f"{states[s]} {name}" for s, name in STATE_NAMES.items() if states.get(s, 0)]
    return f"trials: {total} in all: " + ", ".join(parts)


def print_reduced(paths, summary: str) -> None:
    for path in paths:
        kind = "table" if path.suffix in (".parquet", ".md", ".tex") else "picture"
        print(f"{kind}: {path}")
    print(summary)
