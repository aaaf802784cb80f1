"""``mtsweep run``: run a sweep; running the same command again resumes it."""

from __future__ import annotations

import argparse

from orchestrator.cli.common import (
    csv,
    format_arg,
    number,
    plan_of,
    print_reduced,
    states_line,
    sweep_args,
)

EPILOG = """examples:
  mtsweep run taskonomy-pairs                      # Fig. 7 at smoke scale, local Ray
  mtsweep run taskonomy-pairs --set train.epochs=3 --tasks s,d,n
  mtsweep run taskonomy-pairs --tasks s,d,n,e --extend  # add models, keep the recorded ones
  mtsweep run taskonomy-pairs --preset paper --data-root /data/taskonomy \\
      --address auto --storage /shared/mtsweep --tracking-uri http://127.0.0.1:5000
  mtsweep run taskonomy-pairs --preset paper --data-root /data/taskonomy \\
      --address auto --storage s3://my-bucket/mtsweep --tracking-uri http://mlflow:5000
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a sweep (running it again resumes)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep_args(p)
    p.add_argument(
        "--address", default=None, help="Ray cluster address, e.g. auto (default: a local Ray)"
    )
    p.add_argument(
        "--gpus-per-trial",
        type=number(float),
        default=None,
        help="GPUs one trial books; fractional packs trials on one card, e.g. 0.25 runs four "
        "per GPU (default: the preset's)",
    )
    p.add_argument(
        "--cpus-per-trial",
        type=number(float),
        default=None,
        help="CPUs one trial books (default: the preset's)",
    )
    p.add_argument(
        "--max-failures",
        type=number(int),
        default=1,
        help="retries of a failing trial before it is recorded FAILED (default: 1)",
    )
    p.add_argument(
        "--storage",
        type=str,  # not Path: it would turn s3://b/x into s3:/b/x
        default=None,
        help="checkpoint and kept-result storage every node can read: a directory every "
        "node mounts or a bucket URI such as s3://bucket/prefix, with credentials from the "
        "store's usual environment (default: <out>/ray)",
    )
    p.add_argument(
        "--num-cpus",
        type=number(int),
        default=None,
        help="CPUs of the local Ray instance (default: all)",
    )
    p.add_argument(
        "--force", action="store_true", help="use an --out that holds another sweep's results"
    )
    p.add_argument(
        "--extend",
        action="store_true",
        help="on an --out that holds this sweep with other --tasks/--seeds/--set: add this "
        "request's trials and keep the recorded ones with their results (without it, such a "
        "rerun is refused)",
    )
    p.add_argument("--no-reduce", action="store_true", help="skip the reduction at the end")
    format_arg(p)
    p.add_argument(
        "--rerun",
        type=csv,
        default=None,
        metavar="failed|all|KEY,…",
        help="run these trials again although they ended (after a code fix): 'failed', "
        "'all' or trial keys; their earlier runs stay in MLflow, marked superseded",
    )
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from orchestrator.sweep.plan import NO_REDUCTION
    from orchestrator.sweep.request_guard import guard_request

    flags = {
        "require_data": True,
        "cpus_per_trial": args.cpus_per_trial,
        "gpus_per_trial": args.gpus_per_trial,
        "max_failures": args.max_failures,
    }
    plan = guard_request(plan_of(args, **flags), extend=args.extend, **flags)
    # Ray, MLflow and torch load only once the request holds (a typo answers at once)
    from orchestrator.sweep.lifecycle import reduce_run, run_sweep

    states = run_sweep(
        plan, address=args.address, force=args.force, num_cpus=args.num_cpus, rerun=args.rerun
    )
    print(states_line(states, len(plan.specs)))
    if not args.no_reduce and plan.sweep.reduction != NO_REDUCTION and states.get("FINISHED"):
        print_reduced(*reduce_run(plan, fmt=args.fmt))
    failed = states.get("FAILED", 0)
    if failed:
        print(
            f"{failed} trial(s) failed: 'mtsweep status --out {plan.out}' lists them and "
            "'mtsweep logs TRIAL --out ...' shows a traceback; fix the cause and run the "
            "same command again to retry them"
        )
    return 1 if failed or states.get("PENDING") or states.get("RUNNING") else 0
