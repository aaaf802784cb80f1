"""The ``mtsweep`` command: argument parsing and printing over the sweep life cycle.

One module per subcommand, each with ``add_parser(sub)`` and ``handle(args) -> int``. Bad
input ends in one line on stderr (what is wrong, what to do) and exit code 2, with no
traceback and nothing half-written.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from importlib.metadata import version

from mtsweep.errors import MtsweepError
from orchestrator.cli import (
    compare,
    estimate,
    export,
    logs,
    prepare,
    reduce,
    run,
    show,
    status,
    synth,
)
from orchestrator.cli.common import Parser

__version__ = version("mtsweep")

INTERRUPTED = "interrupted — run the same command to resume"
COMMANDS = (run, status, logs, show, export, reduce, compare, synth, prepare, estimate)


def build_parser() -> Parser:
    parser = Parser(
        prog="mtsweep",
        description="Sweeps reproducing 'Multitask Learning Strengthens Adversarial Robustness' "
        "(Mao et al., ECCV 2020) on Ray Tune, recorded in MLflow.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    from orchestrator.sweep.mlflow_store import quiet_libraries

    quiet_libraries()
    try:
        return args.handle(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"{INTERRUPTED}\n")
        return 130
    except MtsweepError as e:
        sys.stderr.write(f"mtsweep: error: {e}\n")
        return 2
    except BrokenPipeError:  # the reader left (`mtsweep show … | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    raise SystemExit(main())
