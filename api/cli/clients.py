"""``permit clients``: the API clients of the HTTP service (see docs/clients.md).

* ``permit clients create --name NAME --role ROLE [--scope ELEM,ELEM...] [--expires ISO8601]
  [--json]``: a new client; its key is printed once, here, and never again (``--json``: an
  object with ``client_id``, ``role``, ``scope``, ``expires_at`` and ``key``).
* ``permit clients list [--json]``: every client and its status (never a key).
* ``permit clients expire ID [--at ISO8601]``: the client expires at ``--at`` (default now).
* ``permit clients revoke ID``: the client's key stops working, for good.

A key is rotated by creating a client of the same name and role, deploying its key, then
revoking the old client.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from card_service.office import Role

from .common import instant, open_office, print_json, utc_now

__all__ = ["register"]


def _elements(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated element identifiers (checked by the office)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``clients`` and its subcommands to the ``permit`` parser."""
    p = subparsers.add_parser("clients", help="API clients of the HTTP service")
    sub = p.add_subparsers(dest="clients_command", metavar="SUBCOMMAND", required=True)
    create = sub.add_parser("create", help="a new client; prints its key once")
    create.add_argument("--name", required=True, help="who holds the key")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument(
        "--scope",
        type=_elements,
        default=(),
        metavar="ELEM,ELEM...",
        help="element identifiers a relying_party may receive",
    )
    create.add_argument(
        "--expires", type=instant, default=None, metavar="ISO8601", help="expiry instant"
    )
    create.add_argument("--json", action="store_true", help="machine-readable output")
    create.set_defaults(func=run_create)
    listing = sub.add_parser("list", help="every client and its status")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=run_list)
    expire = sub.add_parser("expire", help="let a client expire (now or at --at)")
    expire.add_argument("client_id", metavar="ID")
    expire.add_argument("--at", type=instant, default=None, metavar="ISO8601")
    expire.set_defaults(func=run_expire)
    revoke = sub.add_parser("revoke", help="revoke a client for good")
    revoke.add_argument("client_id", metavar="ID")
    revoke.set_defaults(func=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    with open_office() as office:
        created = office.create_client(
            args.name, args.role, utc_now(), scope=args.scope, expires_at=args.expires
        )
    if args.json:
        print_json(created.to_json())
        return 0
    client = created.client
    print(f"client {client.client_id} ({client.role.value}) created")
    if client.scope:
        print(f"scope    {','.join(sorted(client.scope))}")
    if client.expires_at is not None:
        print(f"expires  {client.expires_at.isoformat()}")
    print(f"key      {created.key}")
    print("the key is shown only this once: store it now", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    with open_office() as office:
        views = office.list_clients(utc_now())
    if args.json:
        print_json([v.to_json() for v in views])
        return 0
    for view in views:
        expires = view.expires_at.isoformat() if view.expires_at else "-"
        scope = ",".join(sorted(view.scope)) or "-"
        print(
            f"{view.client_id}  {view.status.value:<8} {view.role.value:<14} "
            f"expires={expires} scope={scope} name={view.name}"
        )
    return 0


def run_expire(args: argparse.Namespace) -> int:
    with open_office() as office:
        view = office.expire_client(args.client_id, utc_now(), at=args.at)
    assert view.expires_at is not None
    print(f"client {view.client_id} expires at {view.expires_at.isoformat()}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    with open_office() as office:
        view = office.revoke_client(args.client_id, utc_now())
    print(f"client {view.client_id} revoked")
    return 0
