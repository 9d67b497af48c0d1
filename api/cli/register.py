"""``permit register``: the register database (see docs/register.md).

* ``permit register migrate``: create or upgrade the tables (``PERMIT_DATABASE_URL`` or the
  SQLite default under ``$PERMIT_HOME``).
* ``permit register show NUMBER [--json]``: state, effective state, years of residence and the
  endorsement window of one permit (no personal data).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from card_service.migrations import upgrade
from card_service.register.db import make_engine, redacted_url
from card_service.register.errors import RegisterError
from card_service.register.service import Register, effective_state

from .common import CliError, permit_number, print_json

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``register`` and its subcommands to the ``permit`` parser."""
    p = subparsers.add_parser("register", help="the register database")
    sub = p.add_subparsers(dest="register_command", metavar="SUBCOMMAND", required=True)
    mig = sub.add_parser("migrate", help="create or upgrade the register tables")
    mig.set_defaults(func=run_migrate)
    show = sub.add_parser("show", help="one permit's state and endorsement schedule")
    show.add_argument("number", metavar="NUMBER", type=permit_number)
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=run_show)


def _engine() -> Engine:
    """The register's engine; a bad ``PERMIT_DATABASE_URL`` is a one-line usage error."""
    try:
        return make_engine()
    except ArgumentError:  # not a URL, or a database driver that is not installed
        raise CliError("error: PERMIT_DATABASE_URL is not a usable database URL", 2) from None
    except ValueError as exc:  # unsupported database, in-memory SQLite
        raise CliError(f"error: {exc}", exit_code=2) from None


def run_migrate(args: argparse.Namespace) -> int:
    engine = _engine()
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        raise CliError(f"error: migration failed ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    print(f"register at {redacted_url(engine.url.render_as_string(False))} is up to date")
    return 0


def run_show(args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    engine = _engine()
    try:
        reg = Register(engine)
        view = reg.permit(args.number)
        status = reg.endorsement_status(args.number, now)
    except RegisterError as exc:
        raise CliError(f"error: {exc}") from None
    except SQLAlchemyError as exc:
        raise CliError(f"error: cannot read the register ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    info = {
        "number": view.number,
        "state": view.state.value,
        "effective_state": effective_state(view, now),
        "card_serial": view.card_serial,
        "issue_date": view.issue_date.isoformat(),
        "years_of_residence": status.years_of_residence,
        "residence_counted_from": status.counted_from.isoformat(),
        "covered_until": status.covered_until.isoformat(),
        "next_due": status.next_due.isoformat(),
        "window_opens": status.window_opens.isoformat(),
        "replaces_permit": view.replaces_permit,
        "revocation_reason": view.revocation_reason,
    }
    if args.json:
        print_json(info)
    else:
        for key, value in info.items():
            print(f"{key:<24} {value}")
    return 0
