"""The ``permit`` command line.

Subcommands live in small modules that register themselves on the parser.
Expected failures print one line to stderr and exit 1 (runtime) or 2 (usage); anything
unexpected prints one line too and exits 70 (the traceback is logged at debug level, ``-vv``).
Never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from keys.fsutil import UnsafePathError
from keys.home import InsecureDataDirectory

from . import audit, keys, readers, record, register, sim, workflows
from .common import CliError
from .env import environment

__all__ = ["CliError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line too (argparse prints the usage block first otherwise)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"permit: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="permit", description="Residence-permit IC cards: simulator, readers, issuance."
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sim.register(sub)
    readers.register(sub)
    keys.register(sub)
    record.register(sub)
    register.register(sub)
    workflows.register(sub)
    audit.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for usage errors, 0 for --help
        return int(exc.code) if isinstance(exc.code, int) else 2
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # SQLAlchemy's engine and pool loggers print statement parameters (names, addresses,
    # citizen-ID hashes) at INFO/DEBUG: never let -v/-vv raise them.
    for name in ("sqlalchemy", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        environment()  # an unknown PERMIT_ENV is refused for every command
        code: int = args.func(args)
        return code
    except CliError as exc:
        print(f"permit: {exc}", file=sys.stderr)
        return exc.exit_code
    except (InsecureDataDirectory, UnsafePathError) as exc:
        # a data directory others can read, or an output path that is a link: whichever
        # command met it first, one line naming the fix
        print(f"permit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, never a traceback (details with -vv)
        logging.getLogger("permit").debug("unexpected error", exc_info=True)
        print(
            f"permit: internal error ({type(exc).__name__}); run with -vv for details",
            file=sys.stderr,
        )
        return 70
