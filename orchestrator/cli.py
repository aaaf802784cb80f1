"""The ``mtsweep`` command: run, status, list, show, export, reduce, synth.

Bad input ends in one line on stderr (what is wrong, what to do) and exit code 2, with no
traceback and nothing half-written.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


class CliError(ValueError):
    """A usage error found by the CLI itself."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        sys.stderr.write(f"mtsweep: error: {message} (see 'mtsweep {self.prog.split()[-1]} -h')\n")
        raise SystemExit(2)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _seeds(value: str) -> list[int]:
    try:
        seeds = [int(v) for v in _csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds wants integers like 0,1,2, got {value!r}"
        ) from None
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"--seeds wants non-negative integers, got {value!r}")
    return seeds


def _non_negative(kind):
    def parse(value: str):
        try:
            v = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
        if v < 0:
            raise argparse.ArgumentTypeError(f"expected a value >= 0, got {value!r}")
        return v

    return parse


def _sweep_args(p: argparse.ArgumentParser, narrowing: bool = True) -> None:
    p.add_argument("sweep", help="a built-in sweep name (see 'mtsweep list') or a YAML path")
    p.add_argument("--preset", default="smoke", help="preset of the sweep (default: smoke)")
    p.add_argument(
        "--out", type=Path, default=None, help="run directory (default: runs/<sweep>-<preset>/)"
    )
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: sqlite:///<out>/mlflow.db)",
    )
    if narrowing:
        p.add_argument(
            "--tasks",
            type=_csv,
            default=None,
            help="keep only models trained on these tasks (names or letters)",
        )
        p.add_argument("--seeds", type=_seeds, default=None, help="seeds, e.g. 0,1,2")
        p.add_argument("--data-root", default=None, help="real dataset directory")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mtsweep", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a sweep (running it again resumes)")
    _sweep_args(run)
    run.add_argument("--address", default=None, help="Ray cluster address (default: local)")
    run.add_argument("--gpus-per-trial", type=_non_negative(float), default=None)
    run.add_argument("--cpus-per-trial", type=_non_negative(float), default=None)
    run.add_argument(
        "--max-failures",
        type=_non_negative(int),
        default=1,
        help="retries of a failing trial before it is recorded FAILED",
    )
    run.add_argument(
        "--storage",
        type=Path,
        default=None,
        help="checkpoint storage every node can read (default: <out>/ray)",
    )
    run.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)"
    )
    run.add_argument(
        "--force", action="store_true", help="use an --out that holds another sweep's results"
    )
    run.add_argument("--no-reduce", action="store_true", help="skip the reduction at the end")

    status = sub.add_parser("status", help="trials by state, and the failures")
    _sweep_args(status)

    sub.add_parser("list", help="built-in sweeps, presets and trial counts")

    show = sub.add_parser("show", help="the expanded trials, without running")
    _sweep_args(show)

    export = sub.add_parser("export", help="the trials table from MLflow, as Parquet")
    _sweep_args(export)
    export.add_argument("--to", type=Path, required=True, help="output .parquet file")

    red = sub.add_parser("reduce", help="the sweep's result table (Parquet) and pictures")
    red.add_argument("sweep", nargs="?", default=None)
    red.add_argument("--preset", default="smoke")
    red.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="the sweep's run directory (default: runs/<sweep>-<preset>/)",
    )
    red.add_argument("--tracking-uri", default=None)
    red.add_argument("--from-table", type=Path, default=None, help="a trials table (.parquet)")
    red.add_argument("--dataset", default=None, help="dataset of --from-table (default: taskonomy)")
    red.add_argument(
        "--reduction",
        default="fig7",
        help="how to reduce --from-table: fig7 or another sweep's reduction, e.g. "
        "attack_table (a SWEEP uses its own)",
    )
    red.add_argument("--out", type=Path, required=True, help="output .parquet file")
    red.add_argument("--plot", type=Path, default=None, help="directory for the pictures")

    synth = sub.add_parser("synth", help="write synthetic data in the real on-disk format")
    synth.add_argument("dataset", choices=["taskonomy", "cityscapes"])
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--n", type=int, default=64)
    synth.add_argument("--size", type=int, default=64)
    synth.add_argument("--seed", type=int, default=0)
    return parser


# ---------------------------------------------------------------------- commands


def _plan(args, **extra):
    from orchestrator.runner import make_plan
    from sweeps.definition import load_sweep

    sweep = load_sweep(args.sweep)
    return make_plan(
        sweep,
        args.preset,
        out=args.out,
        tasks=getattr(args, "tasks", None),
        seeds=getattr(args, "seeds", None),
        data_root=getattr(args, "data_root", None),
        tracking_uri=args.tracking_uri,
        **extra,
    )


def cmd_run(args) -> int:
    from orchestrator.runner import reduce_run, run_sweep
    from orchestrator.scheduler import Resources

    plan = _plan(args, storage=args.storage)
    res = plan.sweep.resources(args.preset)
    resources = Resources(
        cpus_per_trial=args.cpus_per_trial
        if args.cpus_per_trial is not None
        else res["cpus_per_trial"],
        gpus_per_trial=args.gpus_per_trial
        if args.gpus_per_trial is not None
        else res["gpus_per_trial"],
        max_failures=args.max_failures,
    )
    states = run_sweep(
        plan, resources, address=args.address, force=args.force, num_cpus=args.num_cpus
    )
    print(_states_line(states, len(plan.specs)))
    if not args.no_reduce and plan.sweep.reduction != "none" and states.get("FINISHED"):
        _print_reduced(*reduce_run(plan))
    failed = states.get("FAILED", 0)
    if failed:
        print(
            f"{failed} trial(s) failed: 'mtsweep status {args.sweep} --preset {args.preset}' "
            "lists them; fix the cause and run the same command again to retry them"
        )
    return 1 if failed or states.get("PENDING") or states.get("RUNNING") else 0


def _states_line(states, total: int) -> str:
    parts = [
        f"{states.get(s, 0)} {s.lower()}"
        for s in ("FINISHED", "FAILED", "RUNNING", "PENDING")
        if states.get(s, 0)
    ]
    return f"trials: {total} in all: " + ", ".join(parts)


def cmd_status(args) -> int:
    from orchestrator.runner import failures, trial_states

    plan = _plan(args)
    if not (plan.out / "mlflow.db").exists() and args.tracking_uri is None:
        print(
            f"{plan.sweep.name}/{args.preset}: nothing has run yet ({len(plan.specs)} trials "
            f"pending; no store at {plan.out})"
        )
        return 0
    states = trial_states(plan)
    print(f"{plan.sweep.name}/{args.preset}: " + _states_line(states, len(plan.specs)))
    for spec, error in failures(plan):
        print(f"  FAILED {spec.trial_key} {spec.label}: {error}")
    return 0


def cmd_list(args) -> int:
    from sweeps.definition import builtin_names, load_sweep

    rows = []
    for name in builtin_names():
        sweep = load_sweep(name)
        counts = ", ".join(
            f"{p}: {len(sweep.expand(p, data_root='.' if _needs_root(sweep, p) else None))}"
            for p in sweep.presets
        )
        rows.append((name, sweep.reproduces, counts))
    width = max(len(r[0]) for r in rows)
    for name, reproduces, counts in rows:
        print(f"{name:<{width}}  {reproduces:<34}  trials per preset: {counts}")
    return 0


def _needs_root(sweep, preset: str) -> bool:
    return sweep.preset(preset).get("data", {}).get("source") == "real"


def cmd_show(args) -> int:
    plan = _plan(args) if not _needs_root_args(args) else _plan_with_placeholder(args)
    print(f"{plan.sweep.name}/{args.preset}: {len(plan.specs)} trials (out: {plan.out})")
    rows = [
        (
            s.trial_key,
            "+".join(s.main_tasks),
            "+".join(s.aux_tasks) or "-",
            str(s.seed),
            ",".join(s.evals),
        )
        for s in plan.specs
    ]
    header = ("trial_key", "main", "aux", "seed", "evals")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True))
            + "  "
            + row[4]
        )
    for note in plan.notes:
        print(note)
    return 0


def _needs_root_args(args) -> bool:
    from sweeps.definition import load_sweep

    return args.data_root is None and _needs_root(load_sweep(args.sweep), args.preset)


def _plan_with_placeholder(args):
    args.data_root = "<data-root>"
    plan = _plan(args)
    plan.notes.append("(this preset reads real data: 'mtsweep run' needs --data-root)")
    return plan


def cmd_export(args) -> int:
    from orchestrator.atomic import write_parquet
    from orchestrator.runner import export_trials

    plan = _plan(args)
    table = export_trials(plan)
    write_parquet(table, args.to)
    print(f"wrote {len(table)} rows ({table['trial_key'].nunique()} trials) to {args.to}")
    return 0


def cmd_reduce(args) -> int:
    from orchestrator.reduce import load_trials_table
    from orchestrator.runner import check_reduction, export_trials, make_plan, reduce_to
    from sweeps.definition import load_sweep

    if (args.sweep is None) == (args.from_table is None):
        raise CliError("give either a SWEEP or --from-table FILE (not both)")
    if args.from_table is not None:
        check_reduction(args.reduction)
        trials = load_trials_table(args.from_table)
        dataset = args.dataset or "taskonomy"
        reduction = args.reduction
    else:
        sweep = load_sweep(args.sweep)
        plan = make_plan(
            sweep,
            args.preset,
            out=args.run_dir,
            tracking_uri=args.tracking_uri,
            data_root="." if _needs_root(sweep, args.preset) else None,
        )
        if args.tracking_uri is None and not (plan.out / "mlflow.db").exists():
            raise CliError(
                f"no results for {sweep.name}/{args.preset} at {plan.out}; run it "
                "first or pass --run-dir/--tracking-uri"
            )
        trials = export_trials(plan)
        dataset = sweep.dataset
        reduction = sweep.reduction
    _print_reduced(*reduce_to(trials, reduction, dataset, args.out, args.plot))
    return 0


def _print_reduced(paths, summary: str) -> None:
    for path in paths:
        kind = "table" if path.suffix in (".parquet", ".md") else "picture"
        print(f"{kind}: {path}")
    print(summary)


def cmd_synth(args) -> int:
    from tasks.synth import write_cityscapes, write_taskonomy

    if args.n <= 0 or args.size < 8:
        raise CliError("--n must be positive and --size at least 8")
    writer = write_taskonomy if args.dataset == "taskonomy" else write_cityscapes
    t0 = time.perf_counter()
    report = writer(args.out, n=args.n, size=args.size, seed=args.seed)
    seconds = time.perf_counter() - t0
    print(
        f"wrote {report.n_images} {args.dataset} images ({report.n_files} files) to "
        f"{report.out_dir} in {seconds:.1f} s ({report.n_images / max(seconds, 1e-9):.1f} images/s)"
    )
    return 0


COMMANDS = {
    "run": cmd_run,
    "status": cmd_status,
    "list": cmd_list,
    "show": cmd_show,
    "export": cmd_export,
    "reduce": cmd_reduce,
    "synth": cmd_synth,
}


def _user_errors() -> tuple[type[BaseException], ...]:
    from orchestrator.reduce import ReduceError
    from orchestrator.runner import OutDirError
    from sweeps.definition import SweepError
    from tasks.errors import DataError
    from tasks.registry import LabelError, UnknownTaskError

    return (CliError, SweepError, DataError, LabelError, UnknownTaskError, ReduceError, OutDirError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    for noisy in ("ray", "mlflow", "alembic", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        sys.stderr.write("mtsweep: interrupted; run the same command again to resume\n")
        return 130
    except Exception as e:  # noqa: BLE001 - user errors become one line; bugs keep their trace
        if isinstance(e, _user_errors()):
            sys.stderr.write(f"mtsweep: error: {e}\n")
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
