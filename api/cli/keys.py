"""``permit keys``: the issuing authority's keys (see docs/keys.md).

Subcommands: ``init``, ``list [--json]``, ``rotate [--audit | --master-key]``,
``revoke-signer`` (document or audit signer), ``rollover-root``, ``export-trust``.
Failures print one line (``permit: error: ...``) and exit 1; never a secret, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keys.errors import KeyStoreError
from keys.pki import REVOCATION_REASONS, KeyManager
from keys.profiles import PkiPolicy, SignerRole
from keys.store import Algorithm

from .common import CliError, print_json

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
    defaults = PkiPolicy()
    init.add_argument("--city", default=defaults.city, help="city in certificate names")
    init.add_argument("--organisation", default=defaults.organisation, help="O= of names")
    init.add_argument("--country", default=defaults.country, help="C= of names (ISO 3166)")
    init.add_argument(
        "--algorithm",
        default=defaults.algorithm.value,
        choices=[a.value for a in Algorithm],
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


def _fail(exc: KeyStoreError) -> CliError:
    return CliError(f"error: {exc}")


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn key-layer and file-system failures into one-line CLI errors (exit 1)."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except KeyStoreError as exc:
            raise _fail(exc) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise CliError(f"error: {exc.strerror or type(exc).__name__}{where}") from None

    return wrapper


@_guarded
def run_init(args: argparse.Namespace) -> int:
    try:
        policy = PkiPolicy(
            city=args.city,
            organisation=args.organisation,
            country=args.country.upper(),
            algorithm=Algorithm(args.algorithm),
            root_validity_days=args.root_validity_days,
            signing_window_days=args.signing_window_days,
            permit_validity_days=args.permit_validity_days,
            crl_validity_days=args.crl_validity_days,
            crl_refresh_margin_days=min(7, args.crl_validity_days - 1),
            crl_url=args.crl_url,
            audit_signing_window_days=args.audit_signing_window_days,
        )
    except ValueError as exc:
        raise CliError(f"error: {exc}", exit_code=2) from None
    try:
        with KeyManager() as manager:
            registry = manager.init(_now(), policy)
    except KeyStoreError as exc:
        raise _fail(exc) from None
    signer, auditor = registry.signers[-1], registry.audit_signers[-1]
    print(f"initialised keys in {manager.directory} ({registry.store} store)")
    print(
        f"root {registry.roots[0].id}, signer {signer.id}, audit signer {auditor.id}, "
        "master key KVN 1"
    )
    return 0


@_guarded
def run_list(args: argparse.Namespace) -> int:
    try:
        with KeyManager() as manager:
            info = manager.describe(_now())
    except KeyStoreError as exc:
        raise _fail(exc) from None
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
    for label, key in (("signer", "signers"), ("audit", "audit_signers")):
        for s in info[key]:
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


@_guarded
def run_rotate(args: argparse.Namespace) -> int:
    now = _now()
    try:
        with KeyManager() as manager:
            if args.master_key:
                kvn = manager.rotate_master_key(now)
                print(f"issuer master key rotated to KVN {kvn}")
                return 0
            role = SignerRole.AUDIT if args.audit else SignerRole.DOCUMENT
            before = manager.usable_signer(now, role)
            record = manager.rotate_signer(now, force=not args.if_due, role=role)
            manager.refresh_crl(now)
    except KeyStoreError as exc:
        raise _fail(exc) from None
    what = "audit signer" if role is SignerRole.AUDIT else "document signer"
    if before is not None and record.id == before.id:
        print(f"{what} {record.id} still in its window; nothing to do")
    else:
        print(f"new {what} {record.id} (signs until {record.signing_not_after})")
    return 0


@_guarded
def run_revoke(args: argparse.Namespace) -> int:
    try:
        with KeyManager() as manager:
            record = manager.revoke_signer(args.signer_id, args.reason, _now())
            number = manager.registry.crl.number if manager.registry.crl else 0
    except KeyStoreError as exc:
        raise _fail(exc) from None
    what = "audit signer" if record.role is SignerRole.AUDIT else "document signer"
    print(f"revoked {what} {record.id} ({args.reason}); CRL {number} issued")
    return 0


@_guarded
def run_rollover(args: argparse.Namespace) -> int:
    now = _now()
    with KeyManager() as manager:
        old = manager.root(now)[0]
        new = manager.rollover_root(now)
        signer, auditor = manager.registry.signers[-1], manager.registry.audit_signers[-1]
    print(f"root {new.id} certified by {old.id} (link {new.link_file})")
    print(f"new document signer {signer.id} and audit signer {auditor.id} under {new.id}")
    print("run 'permit keys export-trust DIR' and give verifiers both roots and the link")
    return 0


@_guarded
def run_export(args: argparse.Namespace) -> int:
    if args.directory.exists() and not args.directory.is_dir():
        raise CliError(f"error: {args.directory} exists and is not a directory")
    try:
        with KeyManager() as manager:
            manifest = manager.export_trust(args.directory, _now())
    except KeyStoreError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        # Reading the key directory fails as CorruptKeyFile above: this is the target.
        where = f" ({exc.filename})" if exc.filename else ""
        reason = exc.strerror or type(exc).__name__
        raise CliError(
            f"error: cannot write the trust list to {args.directory}: {reason}{where}"
        ) from None
    print(f"trust list written to {args.directory} ({manifest.name})")
    return 0
