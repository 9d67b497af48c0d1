"""``permit audit``: check and seal the tamper-evident audit log (see docs/register.md).

* ``permit audit verify [--json] [--trust DIR] [--witness [DIR]] [--every N]``: exit 0 if the
  whole log verifies, 1 if not (naming the first bad entry), 3 if register checkpoints are
  missing from the witness (an interrupted witness write, no tampering found); signers are
  checked against ``DIR`` (from ``permit keys export-trust``) or, by default, the local key
  directory.  ``--witness`` alone uses ``$PERMIT_AUDIT_WITNESS_DIR`` (default
  ``$PERMIT_HOME/audit-witness``).  The checkpoint cadence is ``$PERMIT_AUDIT_CHECKPOINT_EVERY``
  unless ``--every`` is given.
* ``permit audit checkpoint``: write missing witness files, make due checkpoints, then sign a
  checkpoint over the current last entry now, with the key store's audit signer (created on
  first use in a key directory that has none); every checkpoint also goes to the witness.

Checkpoints must be sealed by an audit signer: one signed by a document signer is reported as
the first bad entry.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from card_service.office.results import AuditReport

from .common import CliError, open_office, print_json

__all__ = ["CliError", "register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``audit`` and its subcommands to the ``permit`` parser."""
    p = subparsers.add_parser("audit", help="verify and seal the audit log")
    sub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    verify = sub.add_parser("verify", help="check the whole hash chain and its checkpoints")
    verify.add_argument("--json", action="store_true", help="machine-readable report")
    verify.add_argument(
        "--trust", type=Path, default=None, metavar="DIR", help="trust list directory"
    )
    verify.add_argument(
        "--witness",
        type=Path,
        nargs="?",
        const=_CONFIGURED,
        default=None,
        metavar="DIR",
        help="prove the log extends every checkpoint in this witness directory"
        " (alone: $PERMIT_AUDIT_WITNESS_DIR)",
    )
    verify.add_argument(
        "--every",
        type=_positive,
        default=None,
        metavar="N",
        help="checkpoint cadence to require (default $PERMIT_AUDIT_CHECKPOINT_EVERY)",
    )
    verify.set_defaults(func=run_verify)
    seal = sub.add_parser(
        "checkpoint", help="sign a checkpoint over the last entry now (audit signer)"
    )
    seal.set_defaults(func=run_checkpoint)


_CONFIGURED = Path("\0configured")
EXIT_UNWITNESSED = 3


def _positive(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100_000:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 100000")
    return int(text)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_verify(args: argparse.Namespace) -> int:
    configured = args.witness == _CONFIGURED
    with open_office() as office:
        report = office.audit_verify(
            _now(),
            trust_dir=args.trust,
            witness=None if configured else args.witness,
            configured_witness=configured,
            every=args.every,
        )
    if args.json:
        print_json(report.to_json())
    else:
        print(_summary(report))
    if report.status == "unwitnessed":
        return EXIT_UNWITNESSED
    return 0 if report.ok else 1


def _summary(report: AuditReport) -> str:
    if report.status == "bad":
        return f"audit log BAD at entry {report.first_bad_seq}: {report.reason}"
    counts = f"{report.entries_checked} entries, {report.checkpoints_checked} checkpoints"
    if report.witness_checked:
        sealed = report.last_witnessed_seq or 0
        counts += f" ({report.witnessed_checkpoints} witnessed)"
        tail = f"{report.unsealed_entries} unsealed after the last witnessed entry {sealed}"
    else:
        sealed = report.last_checkpoint_seq or 0
        tail = (
            f"{report.unsealed_entries} unsealed after entry {sealed}; no witness given, so"
            " deleted checkpoints are not detected (use --witness)"
        )
    tail += " (entries after a checkpoint can be changed or removed without trace)"
    if report.status == "unwitnessed":
        return f"audit log NOT WITNESSED: {report.reason}; {counts}, {tail}"
    return f"audit log OK: {counts}, {tail}"


def run_checkpoint(args: argparse.Namespace) -> int:
    with open_office() as office:
        seal = office.audit_seal(_now())
    if seal.rewitnessed:
        first = seal.rewitnessed[0]
        print(f"wrote {len(seal.rewitnessed)} missing witness file(s), first for entry {first}")
    if seal.checkpoint is None:
        print("nothing to seal (empty log or already sealed at the last entry)")
    else:
        print(f"checkpoint at entry {seal.checkpoint.seq} signed by {seal.checkpoint.signer_id}")
    return 0
