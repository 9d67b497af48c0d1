"""``permit record``: signed permit records (see docs/record-format.md).

* ``permit record sample --out FILE``: sign a complete record (CBOR IssuerSigned) for a
  synthetic applicant with the configured keys (``permit keys init`` first).  The synthetic
  card key is generated on the fly and discarded: the sample cannot answer a card challenge.
* ``permit record verify FILE [--trust DIR] [--json]``: print the verdict and every reason;
  exit 0 only for VALID, 1 for any other verdict or an error.  ``--trust`` is a directory
  written by ``permit keys export-trust``; without it the local key directory's trust list
  (every root, link certificate and root CRL) is used.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from card_service.office import ENDORSEMENTS_MAX_BYTES, RECORD_MAX_BYTES

from .common import instant as _instant
from .common import open_office, print_json, read_input
from .common import utc_now as _now

__all__ = ["register", "run_sample", "run_verify"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``record`` and its subcommands to the ``permit`` parser."""
    p = subparsers.add_parser("record", help="signed permit records: sample, verify")
    sub = p.add_subparsers(dest="record_command", metavar="SUBCOMMAND", required=True)

    sample = sub.add_parser("sample", help="sign a record for a synthetic applicant")
    sample.add_argument("--out", required=True, type=Path, metavar="FILE", help="output file")
    sample.add_argument("--seed", type=int, default=None, help="seed of the synthetic data")
    sample.set_defaults(func=run_sample)

    verify = sub.add_parser("verify", help="verify a record or presentation")
    verify.add_argument("file", type=Path, metavar="FILE", help="CBOR IssuerSigned")
    verify.add_argument("--trust", type=Path, metavar="DIR", help="exported trust directory")
    verify.add_argument("--endorsements", type=Path, metavar="FILE", help="EF.Endorsements content")
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.add_argument(
        "--now", type=_instant, default=None, help="verify as of this ISO 8601 instant"
    )
    verify.set_defaults(func=run_verify)


def run_sample(args: argparse.Namespace) -> int:
    with open_office() as office:
        sample = office.sample_record(args.out, _now(), seed=args.seed)
    print(f"wrote {sample.path} ({sample.size} bytes, signed by {sample.signer_id})")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    now = args.now or _now()
    with open_office() as office:
        trust = office.trust(args.trust)
        record = read_input(args.file, RECORD_MAX_BYTES, "record")
        endorsements = (
            read_input(args.endorsements, ENDORSEMENTS_MAX_BYTES, "endorsements")
            if args.endorsements
            else b""
        )
        result = office.verify_record(record, now, endorsements=endorsements, trust=trust)
    if args.json:
        print_json(result.to_json())
    else:
        print(result.verdict.value)
        for reason in result.reasons:
            where = f" [{reason.element}]" if reason.element else ""
            print(f"  {reason.verdict.value:<14} {reason.code}{where}: {reason.message}")
        if result.elements:
            print(f"  disclosed: {', '.join(sorted(result.elements))}")
    return 0 if result.valid else 1
