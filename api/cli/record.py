"""``permit record``: signed permit records (see docs/record-format.md).

* ``permit record sample --out FILE``: sign a complete record (CBOR IssuerSigned) for a
  synthetic applicant with the configured keys (``permit keys init`` first).  The synthetic
  card key is generated on the fly and discarded: the sample cannot answer a card challenge.
* ``permit record verify FILE [--trust DIR] [--json]``: print the verdict and every reason;
  exit 0 only for VALID, 1 for any other verdict or an error.  ``--trust`` is a directory
  written by ``permit keys export-trust``; without it the local key directory's roots and
  current CRL are used.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from card_service.record import RecordError, Verdict, Verifier, sign_record
from card_service.record.endorsement import ENDORSEMENTS_MAX_BYTES
from card_service.record.issuer_signed import RECORD_MAX_BYTES
from card_service.record.sample import synthetic_applicant
from keys.errors import KeyStoreError, SignerValidationError
from keys.fsutil import UnsafePathError, write_public_file
from keys.trust import TrustList, load_trust_dir

from .common import CliError, print_json, read_input
from .common import instant as _instant
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
    from keys.pki import KeyManager
    from keys.signer import StoreEcPrivateKey
    from keys.store import Algorithm, KeyHandle

    now = _now()
    try:
        with KeyManager() as manager:
            if not manager.initialised():
                raise CliError("error: no keys configured: run 'permit keys init' first")
            manager.root(now)
            signer = manager.current_signer(now)
            if signer.algorithm is not Algorithm.ECDSA_P256:
                raise CliError(
                    f"error: records are signed with ES256; signer {signer.id} "
                    f"uses {signer.algorithm.value}"
                )
            handle = KeyHandle(manager.store.kind, signer.id, signer.algorithm)
            key = StoreEcPrivateKey(manager.store, handle)
            chain = [manager.certificate(signer.cert_file)]
            card_key = ec.generate_private_key(ec.SECP256R1()).public_key()
            record = sign_record(
                synthetic_applicant(now, seed=args.seed),
                card_key=card_key,
                signer_key=key,
                signer_chain=chain,
                now=now,
            )
    except KeyStoreError as exc:
        raise CliError(f"error: {exc}") from None
    except RecordError as exc:
        raise CliError(f"error: {exc}") from None
    try:
        # 0600, never through a link or into a fifo/device/directory at that name
        write_public_file(args.out, record)
    except UnsafePathError as exc:
        raise CliError(f"error: {exc}") from None
    except OSError as exc:
        raise CliError(f"error: cannot write {args.out}: {exc.strerror}") from None
    print(f"wrote {args.out} ({len(record)} bytes, signed by {signer.id})")
    return 0


def _local_trust(now: dt.datetime) -> TrustList:
    from keys.pki import KeyManager

    with KeyManager() as manager:
        if not manager.initialised():
            raise CliError("error: no --trust DIR given and no local keys to trust")
        roots = tuple(manager.certificate(r.cert_file) for r in manager.registry.roots)
        return TrustList(roots, (manager.current_crl(),))


def run_verify(args: argparse.Namespace) -> int:
    now = args.now or _now()
    try:
        trust = load_trust_dir(args.trust) if args.trust else _local_trust(now)
    except (SignerValidationError, KeyStoreError) as exc:
        raise CliError(f"error: {exc}") from None
    record = read_input(args.file, RECORD_MAX_BYTES, "record")
    endorsements = (
        read_input(args.endorsements, ENDORSEMENTS_MAX_BYTES, "endorsements")
        if args.endorsements
        else b""
    )
    result = Verifier(trust).verify(record, now=now, endorsements=endorsements)
    if args.json:
        print_json(result.to_json())
    else:
        print(result.verdict.value)
        for reason in result.reasons:
            where = f" [{reason.element}]" if reason.element else ""
            print(f"  {reason.verdict.value:<14} {reason.code}{where}: {reason.message}")
        if result.elements:
            print(f"  disclosed: {', '.join(sorted(result.elements))}")
    return 0 if result.verdict is Verdict.VALID else 1
