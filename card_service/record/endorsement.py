"""Annual endorsements (签注): separately signed records stored in EF.Endorsements.

Each endorsement is a COSE_Sign1 (tag 18, ES256, x5chain as in the record) whose payload is
the deterministic CBOR map::

    Endorsement = {
      "docType": "org.permit.residence.1.endorsement",
      "permit_number": tstr,
      "mso_digest": bstr(32),        ; SHA-256 of the record's MobileSecurityObjectBytes
      "period_start": full-date,     ; first covered local date
      "period_end": full-date,       ; last covered local date = next due date
      "sequence": uint,              ; 1, 2, 3 ... in EF.Endorsements order
      "endorsed_at": tdate
    }

EF.Endorsements (at most 8192 bytes) is the CBOR sequence of these items, appended one after
another; an item is about 800 bytes with a one-certificate x5chain, so the file holds the
five to six endorsements a five-year permit needs with room for late ones.  The period rules
are in :mod:`card_service.record.schedule`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

from cbor2 import CBORTag
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.card.wire import FILE_MAX_SIZE, FileId
from keys.clock import require_utc
from permit_errors import ErrorKind, PermitError

from .cbor_types import (
    ENDORSEMENT_TAGS,
    CborError,
    as_date,
    as_utc,
    dumps,
    is_deterministic,
    key_order,
    loads_prefix,
    loads_sequence,
    tdate,
)
from .cose import CoseError, parse_sign1, sign1
from .errors import RecordError
from .issuer_signed import RecordFormatError, parse_record
from .mso import mso_digest
from .schedule import endorsement_status, local_date, next_endorsement_period

__all__ = [
    "ENDORSEMENTS_MAX_BYTES",
    "ENDORSEMENT_DOC_TYPE",
    "EndorsementBody",
    "EndorsementFormatError",
    "decode_endorsement",
    "endorse",
    "parse_endorsement_body",
    "split_endorsements",
]

ENDORSEMENT_DOC_TYPE = "org.permit.residence.1.endorsement"
ENDORSEMENTS_MAX_BYTES = FILE_MAX_SIZE[FileId.ENDORSEMENTS]
#: More items than EF.Endorsements can hold is malformed.
MAX_ENDORSEMENTS = 16
_KEYS = frozenset(
    {
        "docType",
        "permit_number",
        "mso_digest",
        "period_start",
        "period_end",
        "sequence",
        "endorsed_at",
    }
)
_KEY_ORDER = key_order(_KEYS)


class EndorsementFormatError(PermitError, ValueError):
    """An endorsement item is not well formed."""

    code = "endorsement_format_invalid"
    kind = ErrorKind.INTEGRITY


class EndorsementBody(NamedTuple):
    """The signed content of one endorsement."""

    permit_number: str
    mso_digest: bytes
    period_start: dt.date
    period_end: dt.date
    sequence: int
    endorsed_at: dt.datetime

    def to_cbor(self) -> dict[str, Any]:
        return {
            "docType": ENDORSEMENT_DOC_TYPE,
            "permit_number": self.permit_number,
            "mso_digest": self.mso_digest,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "sequence": self.sequence,
            "endorsed_at": tdate(self.endorsed_at),
        }


def parse_endorsement_body(payload: bytes) -> EndorsementBody:
    """Decode and check the payload map of an endorsement."""
    try:
        body = loads_prefix(payload, ENDORSEMENT_TAGS)
    except CborError as exc:
        raise EndorsementFormatError(f"endorsement payload: {exc}") from None
    if type(body) is not dict or set(body) != _KEYS:
        raise EndorsementFormatError("endorsement payload has the wrong keys")
    if tuple(body) != _KEY_ORDER or not is_deterministic(body, payload):
        raise EndorsementFormatError("endorsement payload is not in deterministic encoding")
    try:
        doc_type = body["docType"]
        start, end = as_date(body["period_start"]), as_date(body["period_end"])
        endorsed_at = as_utc(body["endorsed_at"])
        number, digest, seq = body["permit_number"], body["mso_digest"], body["sequence"]
    except KeyError:
        raise EndorsementFormatError("endorsement payload has the wrong keys") from None
    if doc_type != ENDORSEMENT_DOC_TYPE:
        raise EndorsementFormatError("endorsement docType is wrong")
    if (
        start is None
        or end is None
        or endorsed_at is None
        or type(number) is not str
        or type(digest) is not bytes
        or len(digest) != 32
        or type(seq) is not int
        or not 1 <= seq <= MAX_ENDORSEMENTS
    ):
        raise EndorsementFormatError("endorsement payload has wrong types")
    return EndorsementBody(number, digest, start, end, seq, endorsed_at)


def split_endorsements(content: bytes) -> list[Any]:
    """The decoded items of EF.Endorsements content (a CBOR sequence of ``18([...])``).

    Only tag 18 may occur, and every item must be in deterministic encoding.
    """
    if len(content) > ENDORSEMENTS_MAX_BYTES:
        raise EndorsementFormatError(f"endorsements exceed {ENDORSEMENTS_MAX_BYTES} bytes")
    try:
        return loads_sequence(content, MAX_ENDORSEMENTS)
    except CborError as exc:
        raise EndorsementFormatError(str(exc)) from None


def decode_endorsement(item: bytes) -> Any:
    """One encoded endorsement item (as a verifier may be given them one by one)."""
    if not isinstance(item, bytes | bytearray | memoryview):
        raise EndorsementFormatError("an endorsement must be bytes")
    items = split_endorsements(bytes(item))
    if len(items) != 1:
        raise EndorsementFormatError("an endorsement item must be exactly one CBOR item")
    return items[0]


def endorse(
    record: bytes,
    existing: bytes,
    *,
    signer_key: ec.EllipticCurvePrivateKey,
    signer_chain: Sequence[x509.Certificate],
    now: dt.datetime,
    endorsed_at: dt.datetime | None = None,
) -> bytes:
    """Sign the next endorsement of ``record`` and return the item to append.

    ``endorsed_at`` (default ``now``) is the instant the endorsement was granted; the period
    is derived from its local date.  A retry that writes to the card an endorsement the
    register recorded earlier passes the register's instant, so both hold the same period.

    ``existing`` is the current content of EF.Endorsements (issued by us; its signatures are
    not re-checked here).  The period follows :func:`schedule.next_endorsement_period`:
    on time it starts at the due date, late it starts today.  Raises
    :class:`~card_service.record.schedule.EndorsementNotDue` before the window opens and
    :class:`RecordError` if the record is unusable or the file would overflow.
    """
    require_utc(now)
    if endorsed_at is not None:
        require_utc(endorsed_at, "endorsed_at")
    granted = now if endorsed_at is None else endorsed_at
    try:
        parsed = parse_record(record)
        auth = parse_sign1(parsed.issuer_auth)
    except (RecordFormatError, CoseError):
        raise RecordError("cannot endorse a malformed record") from None
    values = {i.identifier: i.value for i in parsed.items}
    number = values.get("permit_number")
    first_due = as_date(values.get("first_endorsement_due"))
    expiry = as_date(values.get("expiry_date"))
    if not isinstance(number, str) or first_due is None or expiry is None:
        raise RecordError("endorsing needs the full record (permit_number, dates)")
    try:
        previous = [
            parse_endorsement_body(parse_sign1(i, tagged=True).payload)
            for i in split_endorsements(existing)
        ]
    except (EndorsementFormatError, CoseError):
        raise RecordError("EF.Endorsements holds a malformed item") from None
    today = local_date(granted)
    status = endorsement_status(
        first_due,
        [(local_date(p.endorsed_at), p.period_start, p.period_end) for p in previous],
        today,
    )
    period = next_endorsement_period(status.covered_until, today, expiry)
    body = EndorsementBody(
        permit_number=number,
        mso_digest=mso_digest(auth.payload),
        period_start=period.start,
        period_end=period.end,
        sequence=len(previous) + 1,
        endorsed_at=granted.astimezone(dt.UTC).replace(microsecond=0),
    )
    item = dumps(CBORTag(18, sign1(dumps(body.to_cbor()), signer_key, signer_chain)))
    if len(existing) + len(item) > ENDORSEMENTS_MAX_BYTES:
        raise RecordError("EF.Endorsements is full")
    return item
