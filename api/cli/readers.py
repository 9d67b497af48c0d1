"""``permit readers``: list readers, card presence and ATR."""

from __future__ import annotations

import argparse
from typing import Any

from reader_drivers import ReaderError

from .common import CliError, print_json
from .env import reader_driver


def register(sub: Any) -> None:
    p = sub.add_parser("readers", help="list smart-card readers and cards")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--driver", choices=["pcsc", "sim"], default=None, help="reader driver ($PERMIT_READERS)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        driver = reader_driver(args.driver)
    except ValueError as exc:  # unknown driver name, e.g. from $PERMIT_READERS
        raise CliError(str(exc), exit_code=2) from None
    except ReaderError as exc:  # e.g. pcscd not running
        raise CliError(str(exc)) from None
    try:
        readers = driver.list_readers()
    except ReaderError as exc:
        raise CliError(str(exc)) from None
    rows = [
        {
            "reader": r.name,
            "card_present": r.card_present,
            "atr": r.atr.hex().upper() if r.atr else None,
        }
        for r in readers
    ]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no readers")
        return 0
    for row in rows:
        state = f"card  ATR {row['atr']}" if row["card_present"] else "empty"
        print(f"{row['reader']}: {state}")
    return 0
