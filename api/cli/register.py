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

from .common import open_office, permit_number, print_json

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


def run_migrate(args: argparse.Namespace) -> int:
    with open_office() as office:
        migrated = office.migrate_register()
    print(f"register at {migrated.url} is up to date")
    return 0


def run_show(args: argparse.Namespace) -> int:
    with open_office() as office:
        info = office.permit_history(args.number, dt.datetime.now(dt.UTC)).to_json()
    if args.json:
        print_json(info)
    else:
        for key, value in info.items():
            print(f"{key:<24} {value}")
    return 0
