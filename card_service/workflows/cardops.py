"""Card-side helpers shared by the workflows: read back, authenticate, verify, digests."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from card_service.card.session import PermitCardSession
from card_service.card.wire import FileId
from card_service.record import CardProof, VerificationResult, Verifier
from card_service.record.cose import parse_sign1
from card_service.record.issuer_signed import parse_record
from card_service.record.mso import mso_digest

__all__ = ["RecordDigests", "digests_of", "read_and_verify", "record_values"]

CHALLENGE_BYTES = 32


@dataclass(frozen=True)
class RecordDigests:
    """What the register stores about the record on the card (lower-case hex SHA-256)."""

    mso: str
    record: str


def digests_of(record: bytes) -> RecordDigests:
    auth = parse_sign1(parse_record(record).issuer_auth)
    return RecordDigests(mso_digest(auth.payload).hex(), hashlib.sha256(record).hexdigest())


def record_values(record: bytes) -> dict[str, object]:
    """The (unverified) element values of a full record: for looking things up only."""
    return {item.identifier: item.value for item in parse_record(record).items}


def read_and_verify(
    session: PermitCardSession, verifier: Verifier, now: dt.datetime
) -> tuple[bytes, bytes, VerificationResult]:
    """Read EF.Record and EF.Endorsements, challenge the card, verify everything.

    Returns ``(record, endorsements, result)``; ``result.verdict`` says whether it passed.
    """
    record = session.read_file(FileId.RECORD)
    endorsements = session.read_file(FileId.ENDORSEMENTS)
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    signature = session.internal_authenticate(challenge)
    result = verifier.verify(
        record,
        now=now,
        endorsements=endorsements,
        card_proof=CardProof(challenge, signature),
        require_card_proof=True,
    )
    return record, endorsements, result
