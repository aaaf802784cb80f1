"""``mtsweep estimate``: device-hours and wall time of a sweep, before a launch."""

from __future__ import annotations

import argparse

from orchestrator.cli.common import CliError, number, plan_of, sweep_args

EPILOG = """examples:
  mtsweep estimate taskonomy-pairs --preset paper --gpus 8
  mtsweep estimate taskonomy-pairs --preset paper --step-time 0.35 --gpus 8
  mtsweep estimate taskonomy-pairs --preset paper --data-root /data/taskonomy-packed-256
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "estimate",
        help="time a few steps here and estimate a sweep's device-hours and wall time",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep_args(p)
    p.add_argument(
        "--gpus", type=number(int, 1), default=1, help="GPUs of the cluster (default: 1)"
    )
    p.add_argument(
        "--cpus",
        type=number(int, 1),
        default=None,
        help="CPUs trials share when timed on this CPU: as many run side by side as their "
        "resources.cpus_per_trial fits (default: this machine's)",
    )
    p.add_argument(
        "--step-time",
        type=number(float, 1e-9),
        default=None,
        metavar="S",
        help="seconds of one training step on the target GPU, instead of timing it here",
    )
    p.add_argument(
        "--steps",
        type=number(int, 1),
        default=2,
        help="training and attack steps timed per kind of model (default: 2)",
    )
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from orchestrator.sweep.estimate import estimate

    if args.sweep is None:
        raise CliError("give the SWEEP (and --preset) to estimate")
    plan = plan_of(args)
    print(f"{plan.sweep.name} / {plan.preset}:")
    cost = estimate(
        plan, gpus=args.gpus, step_time=args.step_time, steps=args.steps, cpus=args.cpus
    )
    print(cost.report())
    return 0
