"""``mtsweep estimate``: device-hours and wall time of a sweep, before a launch."""

from __future__ import annotations

import argparse

from orchestrator.cli.common import CliError, number, plan_of, sweep_args

EPILOG = """examples:
  mtsweep estimate taskonomy-pairs --preset paper --gpus 8
  mtsweep estimate taskonomy-pairs --preset paper --step-time 0.35 --gpus 8
  mtsweep estimate taskonomy-pairs --preset paper --device h100 --gpus 8
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
        "--device",
        default=None,
        metavar="NAME",
        help="predict for this accelerator instead of timing here (FLOPs counted, nothing "
        "run): h100, h100-pcie, h200, a100, a100-40gb, l40s, l4, a10, rtx4090",
    )
    p.add_argument(
        "--efficiency",
        type=number(float, 1e-3),
        default=None,
        metavar="F",
        help="with --device: the fraction of its dense peak a step achieves (default 0.3, "
        "an assumption)",
    )
    p.add_argument(
        "--steps",
        type=number(int, 1),
        default=2,
        help="training and attack steps timed per kind of model (default: 2)",
    )
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from orchestrator.sweep.accelerators import get_accelerator
    from orchestrator.sweep.estimate import DEFAULT_EFFICIENCY, estimate

    if args.sweep is None:
        raise CliError("give the SWEEP (and --preset) to estimate")
    if args.device is not None and args.step_time is not None:
        raise CliError("give --device (predict from FLOPs) or --step-time, not both")
    if args.efficiency is not None and args.device is None:
        raise CliError("--efficiency applies to --device; give the accelerator too")
    if args.efficiency is not None and args.efficiency > 1:
        raise CliError(f"--efficiency {args.efficiency:g}: a fraction of the peak, at most 1")
    accelerator = get_accelerator(args.device) if args.device else None
    plan = plan_of(args)
    print(f"{plan.sweep.name} / {plan.preset}:")
    cost = estimate(
        plan,
        gpus=args.gpus,
        step_time=args.step_time,
        steps=args.steps,
        cpus=args.cpus,
        accelerator=accelerator,
        efficiency=args.efficiency or DEFAULT_EFFICIENCY,
    )
    print(cost.report())
    return 0
