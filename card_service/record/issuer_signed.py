"""Build, sign and parse the ISO/IEC 18013-5 IssuerSigned structure stored in EF.Record.

::

    IssuerSigned = {
      "nameSpaces": {NAMESPACE: [+ IssuerSignedItemBytes]},
      "issuerAuth": COSE_Sign1      ; payload = MobileSecurityObjectBytes
    }
    IssuerSignedItemBytes = #6.24(bstr .cbor IssuerSignedItem)
    IssuerSignedItem = {"digestID": uint, "random": bstr(32),
                        "elementIdentifier": tstr, "elementValue": any}

Digest IDs are a random permutation of ``0..n-1`` and the items are stored in digest-ID order,
so neither an ID nor a position tells which element a withheld digest belongs to; each salt is
32 random bytes (18013-5 asks for at least 16), so a withheld element cannot be guessed from
its digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from cbor2 import CBORTag
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.card.wire import FILE_MAX_SIZE, FileId

from .cbor_types import CborError, bstr_header, dumps, embedded_bytes, loads, loads_signed
from .cose import sign1
from .data import PermitData
from .errors import RecordError, SigningError
from .mso import NAMESPACE, build_mso_bytes
from .schedule import local_midnight

__all__ = [
    "RECORD_MAX_BYTES",
    "SALT_BYTES",
    "ParsedItem",
    "ParsedRecord",
    "RecordFormatError",
    "decode_record",
    "parse_record",
    "sign_record",
]

#: EF.Record capacity.
RECORD_MAX_BYTES = FILE_MAX_SIZE[FileId.RECORD]
SALT_BYTES = 32
_sha256 = hashlib.sha256


class RecordFormatError(ValueError):
    """The bytes are not an IssuerSigned record; ``code`` names the broken rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _item_bytes(digest_id: int, identifier: str, value: Any, salt: bytes) -> bytes:
    return dumps(
        {
            "digestID": digest_id,
            "random": salt,
            "elementIdentifier": identifier,
            "elementValue": value,
        }
    )


def sign_record(
    data: PermitData,
    *,
    card_key: ec.EllipticCurvePublicKey,
    signer_key: ec.EllipticCurvePrivateKey,
    signer_chain: Sequence[x509.Certificate],
    now: dt.datetime,
    randbytes: Callable[[int], bytes] = secrets.token_bytes,
) -> bytes:
    """Validate ``data`` and return the signed IssuerSigned record (CBOR bytes).

    ``signer_key`` is any P-256 ``ec.EllipticCurvePrivateKey`` (e.g.
    ``keys.signer.StoreEcPrivateKey``); ``signer_chain`` is the document signer's certificate
    first.  ``card_key`` is the card's authentication key; it goes into deviceKeyInfo.
    Raises :class:`~card_service.record.errors.RecordValidationError` for bad data and
    :class:`~card_service.record.errors.RecordError` if the record would not fit EF.Record.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    data.validate()
    if not signer_chain:
        raise SigningError("the signer certificate chain is empty")
    leaf = signer_chain[0]
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise SigningError("the signer certificate is not valid now")
    elements = data.elements()
    ids = list(range(len(elements)))
    secrets.SystemRandom().shuffle(ids)
    items: list[tuple[int, bytes]] = []
    digests: dict[int, bytes] = {}
    for digest_id, (identifier, value) in zip(ids, elements.items(), strict=True):
        inner = _item_bytes(digest_id, identifier, value, randbytes(SALT_BYTES))
        digests[digest_id] = hashlib.sha256(embedded_bytes(inner)).digest()
        items.append((digest_id, inner))
    items.sort()
    payload = build_mso_bytes(
        digests,
        card_key,
        signed=now,
        valid_from=local_midnight(data.issue_date),
        valid_until=local_midnight(data.expiry_date + dt.timedelta(days=1)),
    )
    issuer_auth = sign1(payload, signer_key, signer_chain)
    record = encode_record({NAMESPACE: [inner for _, inner in items]}, issuer_auth)
    if len(record) > RECORD_MAX_BYTES:
        raise RecordError(f"record is {len(record)} bytes; EF.Record holds {RECORD_MAX_BYTES}")
    return record


def encode_record(namespaces: Mapping[str, Sequence[bytes]], issuer_auth: list[Any]) -> bytes:
    """Encode IssuerSigned from already encoded items (tag 24 is added here)."""
    return dumps(
        {
            "nameSpaces": {ns: [CBORTag(24, b) for b in items] for ns, items in namespaces.items()},
            "issuerAuth": issuer_auth,
        }
    )


class ParsedItem(NamedTuple):
    """One IssuerSignedItem as found (digest not yet compared)."""

    namespace: str
    digest_id: int
    identifier: str
    value: Any
    #: The bytes inside tag 24 (the encoded IssuerSignedItem).
    encoded: bytes
    #: SHA-256 of IssuerSignedItemBytes (tag 24 head included, as 18013-5 hashes).
    digest: bytes


@dataclass(frozen=True)
class ParsedRecord:
    """IssuerSigned split into items and issuerAuth; ``problems`` lists bad items."""

    items: tuple[ParsedItem, ...]
    issuer_auth: Any
    #: (code, namespace-or-element) for every item that could not be parsed.
    problems: tuple[tuple[str, str], ...]


def decode_record(data: bytes) -> tuple[dict[str, list[Any]], Any]:
    """Decode IssuerSigned down to ``(nameSpaces, issuerAuth)``; items are left encoded.

    Raises :class:`RecordFormatError` when the outer structure is wrong.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise RecordFormatError("record_type", "record must be bytes")
    if len(data) > RECORD_MAX_BYTES:
        raise RecordFormatError("record_oversized", f"record exceeds {RECORD_MAX_BYTES} bytes")
    try:
        top = loads(bytes(data))
    except CborError:
        raise RecordFormatError("record_undecodable", "record is not one CBOR item") from None
    if not isinstance(top, dict) or set(top) != {"nameSpaces", "issuerAuth"}:
        raise RecordFormatError("record_structure", "IssuerSigned needs nameSpaces, issuerAuth")
    namespaces = top["nameSpaces"]
    if not isinstance(namespaces, dict) or not namespaces:
        raise RecordFormatError("record_structure", "nameSpaces must be a non-empty map")
    for ns, entries in namespaces.items():
        if not isinstance(ns, str) or not isinstance(entries, list) or not entries:
            raise RecordFormatError("record_structure", "a namespace must hold a list of items")
    return namespaces, top["issuerAuth"]


def parse_record(data: bytes) -> ParsedRecord:
    """Parse IssuerSigned bytes.  Structure errors raise :class:`RecordFormatError`;
    a malformed single item is reported in ``problems`` and skipped."""
    namespaces, issuer_auth = decode_record(data)
    items: list[ParsedItem] = []
    problems: list[tuple[str, str]] = []
    for ns, entries in namespaces.items():
        for entry in entries:
            # hot path: exact type checks, no temporary sets
            if type(entry) is not CBORTag or entry.tag != 24 or type(entry.value) is not bytes:
                problems.append(("item_not_tag24", ns))
                continue
            try:
                item = loads_signed(entry.value)
            except CborError:
                problems.append(("item_undecodable", ns))
                continue
            if type(item) is not dict or len(item) != 4:
                problems.append(("item_structure", ns))
                continue
            try:
                digest_id = item["digestID"]
                salt = item["random"]
                identifier = item["elementIdentifier"]
                value = item["elementValue"]
            except KeyError:
                problems.append(("item_structure", ns))
                continue
            if (
                type(digest_id) is not int
                or digest_id < 0
                or type(salt) is not bytes
                or len(salt) < 16
                or type(identifier) is not str
            ):
                problems.append(("item_structure", ns))
                continue
            encoded = entry.value
            digest = _sha256(b"\xd8\x18" + bstr_header(len(encoded)) + encoded).digest()
            items.append(ParsedItem(ns, digest_id, identifier, value, encoded, digest))
    return ParsedRecord(tuple(items), issuer_auth, tuple(problems))
