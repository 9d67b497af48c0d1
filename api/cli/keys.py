"""``permit keys``: the issuing authority's keys (see docs/keys.md).

Subcommands: ``init``, ``list [--json]``, ``rotate [--audit | --status-list | --master-key]``,
``revoke-signer`` (document or audit signer), ``rollover-root``, ``export-trust``.
Failures print one line (``permit: error: ...``) and exit 1; never a secret, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from card_service.office import ALGORITHMS, POLICY_DEFAULTS, REVOCATION_REASONS

from .common import open_office, print_json

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``keys`` and its subcommands to the ``permit`` parser."""
    p = subparsers.add_parser(
        "keys", help="issuer keys: root, document and audit signers, master keys"
    )
    sub = p.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)

    init = sub.add_parser(
        "init", help="create root, first document and audit signers and master key KVN 1"
    )
    defaults = POLICY_DEFAULTS
    init.add_argument("--city", default=defaults.city, help="city in certificate names")
    init.add_argument("--organisation", default=defaults.organisation, help="O= of names")
    init.add_argument("--country", default=defaults.country, help="C= of names (ISO 3166)")
    init.add_argument(
        "--algorithm",
        default=defaults.algorithm.value,
        choices=list(ALGORITHMS),
        help="signature algorithm of root and signers",
    )
    init.add_argument("--root-validity-days", type=int, default=defaults.root_validity_days)
    init.add_argument("--signing-window-days", type=int, default=defaults.signing_window_days)
    init.add_argument("--permit-validity-days", type=int, default=defaults.permit_validity_days)
    init.add_argument("--crl-validity-days", type=int, default=defaults.crl_validity_days)
    init.add_argument(
        "--audit-signing-window-days",
        type=int,
        default=defaults.audit_signing_window_days,
        help="signing window of each audit signer (audit-log checkpoints)",
    )
    init.add_argument("--crl-url", default=None, help="CRL distribution point in signer certs")
    init.set_defaults(func=run_init)

    ls = sub.add_parser("list", help="roots, document and audit signers, master keys, CRL")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)

    rot = sub.add_parser("rotate", help="certify a new document signer (and refresh the CRL)")
    rot.add_argument(
        "--if-due", action="store_true", help="only when no signer may sign now (for cron)"
    )
    what = rot.add_mutually_exclusive_group()
    what.add_argument(
        "--audit",
        action="store_true",
        help="certify a new audit signer (checkpoints) instead; also creates the first one",
    )
    what.add_argument(
        "--status-list",
        action="store_true",
        help="certify a new status-list signer (signed status lists) instead",
    )
    what.add_argument(
        "--master-key", action="store_true", help="rotate the issuer master key instead"
    )
    rot.set_defaults(func=run_rotate)

    rev = sub.add_parser(
        "revoke-signer", help="revoke a document or audit signer and reissue the CRL"
    )
    rev.add_argument("signer_id", metavar="ID")
    rev.add_argument("--reason", required=True, choices=sorted(REVOCATION_REASONS))
    rev.set_defaults(func=run_revoke)

    roll = sub.add_parser(
        "rollover-root",
        help="renew the root: new root, link certificate from the old one, new signers",
    )
    roll.set_defaults(func=run_rollover)

    exp = sub.add_parser("export-trust", help="write roots, CRL, signers and a manifest")
    exp.add_argument("directory", metavar="DIR", type=Path)
    exp.set_defaults(func=run_export)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_init(args: argparse.Namespace) -> int:
    with open_office() as office:
        done = office.init_keys(
            _now(),
            city=args.city,
            organisation=args.organisation,
            country=args.country.upper(),
            algorithm=args.algorithm,
            root_validity_days=args.root_validity_days,
            signing_window_days=args.signing_window_days,
            permit_validity_days=args.permit_validity_days,
            crl_validity_days=args.crl_validity_days,
            crl_refresh_margin_days=min(7, args.crl_validity_days - 1),
            crl_url=args.crl_url,
            audit_signing_window_days=args.audit_signing_window_days,
        )
    print(f"initialised keys in {done.directory} ({done.store} store)")
    print(
        f"root {done.root_id}, signer {done.signer_id}, audit signer {done.audit_signer_id}, "
        "master key KVN 1"
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    with open_office() as office:
        info = office.describe_keys(_now())
    if args.json:
        print_json(info)
        return 0
    print(f"{info['directory']} ({info['store']} store)")
    for r in info["roots"]:
        print(
            f"root    {r['id']:<10} {r['algorithm']:<18} {r['not_before']} .. {r['not_after']}"
            f"  {r['state']}"
            + (f" (signs its CRL until {r['crl_until']})" if r.get("crl_until") else "")
        )
        if r.get("link_file"):
            print(f"link    {r['id']:<10} {r['link_file']} (certified by the previous root)")
    for label, key in (
        ("signer", "signers"),
        ("audit", "audit_signers"),
        ("status", "status_signers"),
    ):
        for s in info.get(key, []):
            print(
                f"{label:<7} {s['id']:<10} {s['algorithm']:<18} {s['not_before']} .. "
                f"{s['not_after']}  signs until {s['signing_not_after']}  {s['state']}"
            )
    for m in info["master_keys"]:
        print(f"master  {m['id']:<10} {m['algorithm']:<18} KVN {m['kvn']}  {m['state']}")
    crl = info["crl"]
    if crl:
        print(f"crl     #{crl['number']:<8} next update {crl['next_update']}")
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    with open_office() as office:
        done = office.rotate_keys(
            _now(),
            audit=args.audit,
            master_key=args.master_key,
            if_due=args.if_due,
            status_list=args.status_list,
        )
    if done.kvn is not None:
        print(f"issuer master key rotated to KVN {done.kvn}")
    elif done.unchanged:
        print(f"{done.what} {done.id} still in its window; nothing to do")
    else:
        print(f"new {done.what} {done.id} (signs until {done.signing_not_after})")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    with open_office() as office:
        done = office.revoke_signer(args.signer_id, args.reason, _now())
    print(f"revoked {done.what} {done.id} ({args.reason}); CRL {done.crl_number} issued")
    return 0


def run_rollover(args: argparse.Namespace) -> int:
    with open_office() as office:
        done = office.rollover_root(_now())
    print(f"root {done.new_root_id} certified by {done.old_root_id} (link {done.link_file})")
    print(
        f"new document signer {done.signer_id} and audit signer {done.audit_signer_id} "
        f"under {done.new_root_id}"
    )
    print("run 'permit keys export-trust DIR' and give verifiers both roots and the link")
    return 0


def run_export(args: argparse.Namespace) -> int:
    with open_office() as office:
        manifest = office.export_trust(args.directory, _now())
    print(f"trust list written to {args.directory} ({manifest.name})")
    return 0
