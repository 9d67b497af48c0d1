"""``permit readers``: list readers, card presence and ATR."""

from __future__ import annotations

import argparse
from typing import Any

from .common import open_office, print_json


def register(sub: Any) -> None:
    p = sub.add_parser("readers", help="list smart-card readers and cards")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--driver", choices=["pcsc", "sim"], default=None, help="reader driver ($PERMIT_READERS)"
    )
    p.set_defaults(func=run, errors="plain")


def run(args: argparse.Namespace) -> int:
    with open_office() as office:
        rows = [reader.to_json() for reader in office.readers(args.driver)]
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
