"""``permit audit``: check and seal the tamper-evident audit log (see docs/register.md).

* ``permit audit verify [--json] [--trust DIR]``: exit 0 if the whole log verifies, 1 if not
  (naming the first bad entry); signers are checked against ``DIR`` (from
  ``permit keys export-trust``) or, by default, the local key directory.
* ``permit audit checkpoint``: sign a checkpoint over the current last entry now, with the
  key store's audit signer (created on first use in a key directory that has none).

Checkpoints must be sealed by an audit signer: one signed by a document signer is reported as
the first bad entry.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from card_service.audit import create_checkpoint, verify_audit_log
from card_service.audit.trust import local_trust
from card_service.register.db import make_engine
from keys.errors import KeyStoreError, SignerValidationError
from keys.pki import KeyManager
from keys.trust import TrustList, load_trust_dir

from .common import CliError, print_json

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``audit`` and its subcommands to the ``permit`` parser."""
    p = subparsers.add_parser("audit", help="verify and seal the audit log")
    sub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    verify = sub.add_parser("verify", help="check the whole hash chain and its checkpoints")
    verify.add_argument("--json", action="store_true", help="machine-readable report")
    verify.add_argument(
        "--trust", type=Path, default=None, metavar="DIR", help="trust list directory"
    )
    verify.set_defaults(func=run_verify)
    seal = sub.add_parser(
        "checkpoint", help="sign a checkpoint over the last entry now (audit signer)"
    )
    seal.set_defaults(func=run_checkpoint)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _trust(directory: Path | None) -> TrustList:
    try:
        if directory is not None:
            return load_trust_dir(directory)
        with KeyManager() as manager:
            return local_trust(manager)
    except (KeyStoreError, SignerValidationError) as exc:
        raise CliError(f"error: no trust list: {exc}") from None


def run_verify(args: argparse.Namespace) -> int:
    trust = _trust(args.trust)
    engine = make_engine()
    try:
        with Session(engine) as session:
            report = verify_audit_log(session, trust, _now())
    except SQLAlchemyError as exc:
        raise CliError(f"error: cannot read the audit log ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    if args.json:
        print_json(report.to_json())
    elif report.ok:
        print(
            f"audit log OK: {report.entries_checked} entries, "
            f"{report.checkpoints_checked} checkpoints, {report.unsealed_entries} unsealed"
        )
    else:
        print(f"audit log BAD at entry {report.first_bad_seq}: {report.reason}")
    return 0 if report.ok else 1


def run_checkpoint(args: argparse.Namespace) -> int:
    now = _now()
    engine = make_engine()
    try:
        with KeyManager() as manager:
            sealed = create_checkpoint(engine, manager, now)
    except KeyStoreError as exc:
        raise CliError(f"error: {exc}") from None
    except SQLAlchemyError as exc:
        raise CliError(f"error: cannot write the audit log ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    if sealed is None:
        print("nothing to seal (empty log or already sealed at the last entry)")
    else:
        print(f"checkpoint at entry {sealed.seq} signed by {sealed.signer_id}")
    return 0
