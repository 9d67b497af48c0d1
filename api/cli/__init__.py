"""The ``permit`` command line.

Subcommands live in small modules that register themselves on the parser; each parses its
arguments, calls one use case of the office (:mod:`card_service.office`) and prints the
result.  Failures are mapped here, in :func:`dispatch`, and nowhere else: an expected failure
(a :class:`~permit_errors.PermitError`) prints one line to stderr and exits 2 when the
caller's settings or request are at fault, 1 otherwise; anything unexpected prints one line
too and exits 70 (the traceback is logged at debug level, ``-vv``).  Never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from card_service.office import Settings, nonce_well_formed
from card_service.office.errors import (
    WORKFLOW_ERRORS,
    ApprovedNotIssued,
    EnvironmentConfigError,
    PermitError,
    RequestInvalid,
    SettingsError,
    SimulatorRefused,
)

from . import (
    audit,
    clients,
    keys,
    present,
    readers,
    record,
    register,
    serve,
    sim,
    trust,
    workflows,
)
from .common import CliError

__all__ = ["CliError", "build_parser", "describe", "dispatch", "exit_code", "main"]

#: How a command words its failures (``set_defaults(errors=...)``): ``error`` (the default)
#: ``error: <message>``; ``workflow`` also names the class of a domain failure
#: (``error: NoCard: ...``); ``plain`` the message alone (``permit readers``).
ERROR_STYLES = ("error", "workflow", "plain")


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
    clients.register(sub)
    serve.register(sub)
    present.register(sub)
    trust.register(sub)
    return parser


def describe(exc: PermitError, style: str = "error") -> str:
    """The one line (after ``permit: ``) that reports ``exc`` for a command of ``style``."""
    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, EnvironmentConfigError):
        return f"configuration error: {exc}"
    if isinstance(exc, ApprovedNotIssued):
        number = exc.application_id
        hint = f"application {number} is approved: retry with --application-id {number}"
        return f"{describe(exc.cause, style)} ({hint})"
    if style == "plain" or isinstance(exc, SimulatorRefused):
        return str(exc)
    if style == "workflow" and isinstance(exc, WORKFLOW_ERRORS):
        return f"error: {type(exc).__name__}: {exc}"
    return f"error: {exc}"


def exit_code(exc: PermitError) -> int:
    """2 when the settings or the request are at fault, else 1 (a :class:`CliError` says)."""
    if isinstance(exc, CliError):
        return exc.exit_code
    if isinstance(exc, SettingsError | RequestInvalid | EnvironmentConfigError):
        return 2
    return 1


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; an expected failure is one line on stderr and its exit code."""
    try:
        code: int = args.func(args)
        return code
    except PermitError as exc:
        print(f"permit: {describe(exc, getattr(args, 'errors', 'error'))}", file=sys.stderr)
        logging.getLogger("permit").info("failed: %s (%s)", exc.code, exc.kind)
        return exit_code(exc)


#: Options whose value is a nonce: 43 base64url characters, of which the first is "-" one
#: time in 64, and argparse takes a value that begins with "-" for an option.
NONCE_OPTIONS = frozenset({"--challenge"})


def glue_nonces(argv: Sequence[str]) -> list[str]:
    """``argv`` with each ``--challenge NONCE`` given as ``--challenge=NONCE`` when the
    nonce begins with "-" (only a well-formed nonce: a missing value stays argparse's
    clear error)."""
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":  # the end of the options: the rest as given
            out.append(word)
            out.extend(words)
            break
        if word in NONCE_OPTIONS:
            value = next(words, None)
            if value is not None and value.startswith("-") and nonce_well_formed(value):
                out.append(f"{word}={value}")
                continue
            out.append(word)
            if value is not None:
                out.append(value)
            continue
        out.append(word)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(glue_nonces(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: 2 for usage errors, 0 for --help
        return int(exc.code) if isinstance(exc.code, int) else 2
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # SQLAlchemy's engine and pool loggers print statement parameters (names, addresses,
    # citizen-ID hashes) at INFO/DEBUG: never let -v/-vv raise them.
    for name in ("sqlalchemy", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        try:
            Settings.from_env(os.environ)  # an unknown PERMIT_ENV is refused for every command
        except PermitError as exc:
            print(f"permit: {describe(exc)}", file=sys.stderr)
            return exit_code(exc)
        return dispatch(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, never a traceback (details with -vv)
        logging.getLogger("permit").debug("unexpected error", exc_info=True)
        print(
            f"permit: internal error ({type(exc).__name__}); run with -vv for details",
            file=sys.stderr,
        )
        return 70
