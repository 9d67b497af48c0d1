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

import cbor2
from cbor2 import CBORTag
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.card.wire import FILE_MAX_SIZE, FileId
from permit_errors import ErrorKind, PermitError

from .cbor_types import (
    ITEM_TAGS,
    RECORD_TAGS,
    CborError,
    array_header,
    bstr_header,
    dumps,
    embedded_bytes,
    is_canonical,
    is_deterministic,
    key_order,
    loads,
    loads_prefix,
    map_header,
)
from .cose import sign1
from .data import PermitData
from .errors import RecordError, SigningError
from .mso import NAMESPACE, build_mso_bytes
from .schedule import local_midnight

__all__ = [
    "ITEM_KEYS",
    "RECORD_MAX_BYTES",
    "SALT_BYTES",
    "DecodedRecord",
    "ParsedItem",
    "ParsedRecord",
    "RecordFormatError",
    "check_item",
    "decode_record",
    "parse_record",
    "sign_record",
]

#: EF.Record capacity.
RECORD_MAX_BYTES = FILE_MAX_SIZE[FileId.RECORD]
SALT_BYTES = 32
_sha256 = hashlib.sha256


class RecordFormatError(PermitError, ValueError):
    """The bytes are not an IssuerSigned record; ``code`` names the broken rule."""

    code = "record_format_invalid"
    kind = ErrorKind.INTEGRITY

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
    #: SHA-256 of IssuerSignedItemBytes exactly as received (tag 24 head included).
    digest: bytes


@dataclass(frozen=True)
class ParsedRecord:
    """IssuerSigned split into items and issuerAuth; ``problems`` lists bad items."""

    items: tuple[ParsedItem, ...]
    issuer_auth: Any
    #: (code, namespace-or-element) for every item that could not be parsed.
    problems: tuple[tuple[str, str], ...]


class DecodedRecord(NamedTuple):
    """IssuerSigned decoded down to its items, which are left encoded."""

    #: namespace -> the entries as decoded (``CBORTag(24, bytes)`` when well formed).
    namespaces: dict[str, list[Any]]
    issuer_auth: Any
    #: namespace -> the exact received bytes of every entry (IssuerSignedItemBytes), a view
    #: into the record: the item digests are computed over these, never over a re-encoding.
    received: dict[str, list[memoryview]]


_KEY_ISSUER_AUTH = dumps("issuerAuth")
_KEY_NAMESPACES = dumps("nameSpaces")
#: ``IssuerSigned`` keys in deterministic order.
_RECORD_KEYS = ("issuerAuth", "nameSpaces")
#: ``IssuerSignedItem`` keys in deterministic order.
ITEM_KEYS = key_order(("digestID", "random", "elementIdentifier", "elementValue"))
#: ``#6.24`` + bstr head for short items (most are under 256 bytes).
_TAG24_HEADS = tuple(b"\xd8\x18" + bstr_header(n) for n in range(256))
_SCALARS = (str, int, bytes, dt.date)  # dt.date: tag 1004, the only tag of an item


def _entry_bytes(entry: Any) -> bytes:
    if type(entry) is CBORTag and entry.tag == 24 and type(entry.value) is bytes:
        return b"\xd8\x18" + bstr_header(len(entry.value)) + entry.value
    return cbor2.dumps(entry)


def decode_record(data: bytes) -> DecodedRecord:
    """Decode IssuerSigned down to its items (left encoded) and issuerAuth.

    Only tag 24 may occur; the record must be its own deterministic encoding, byte for byte
    (``record_encoding`` otherwise), so that one record has exactly one byte string.  Raises
    :class:`RecordFormatError` when the outer structure is wrong.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise RecordFormatError("record_type", "record must be bytes")
    if len(data) > RECORD_MAX_BYTES:
        raise RecordFormatError("record_oversized", f"record exceeds {RECORD_MAX_BYTES} bytes")
    data = bytes(data)
    try:
        top = loads_prefix(data, RECORD_TAGS)  # trailing bytes fail the comparison below
    except CborError as exc:
        raise RecordFormatError("record_undecodable", f"record: {exc}") from None
    if type(top) is not dict or set(top) != set(_RECORD_KEYS):
        raise RecordFormatError("record_structure", "IssuerSigned needs nameSpaces, issuerAuth")
    namespaces = top["nameSpaces"]
    if type(namespaces) is not dict or not namespaces:
        raise RecordFormatError("record_structure", "nameSpaces must be a non-empty map")
    for ns, entries in namespaces.items():
        if type(ns) is not str or type(entries) is not list or not entries:
            raise RecordFormatError("record_structure", "a namespace must hold a list of items")
    # Walk the deterministic encoding of what was decoded along the received bytes: the
    # envelope and every item head must be where and what they are in that encoding (so one
    # record has one byte string), and each item's span is then its bytes as received.
    order = tuple(namespaces) if len(namespaces) == 1 else key_order(namespaces)
    try:
        prefix = b"\xa2" + _KEY_ISSUER_AUTH + cbor2.dumps(top["issuerAuth"]) + _KEY_NAMESPACES
    except Exception:
        raise RecordFormatError("record_encoding", "issuerAuth cannot be encoded") from None
    prefix += map_header(len(namespaces))
    exact = tuple(top) == _RECORD_KEYS and tuple(namespaces) == order
    exact = exact and data.startswith(prefix)
    pos = len(prefix)
    received: dict[str, list[memoryview]] = {}
    view = memoryview(data)
    for ns in order if exact else ():
        entries = namespaces[ns]
        head = dumps(ns) + array_header(len(entries))
        if not data.startswith(head, pos):
            exact = False
            break
        pos += len(head)
        spans = received[ns] = []
        for entry in entries:
            if type(entry) is CBORTag and entry.tag == 24 and type(entry.value) is bytes:
                n = len(entry.value)
                item_head = _TAG24_HEADS[n] if n < 256 else b"\xd8\x18" + bstr_header(n)
                end = pos + len(item_head) + n
            else:  # not an item: reported by the caller; its encoding must still match
                item_head = cbor2.dumps(entry)
                end = pos + len(item_head)
            if not data.startswith(item_head, pos):
                exact = False
                break
            spans.append(view[pos:end])
            pos = end
    if not exact or pos != len(data):
        raise RecordFormatError(
            "record_encoding", "record is not in deterministic encoding (RFC 8949 4.2.1)"
        )
    return DecodedRecord(namespaces, top["issuerAuth"], received)


def check_item(item: Any, content: bytes | None = None) -> tuple[int, str, Any] | str:
    """``(digestID, elementIdentifier, elementValue)`` of a decoded IssuerSignedItem, or the
    code of the broken rule (``item_structure``, ``item_encoding``).

    With ``content`` (the bytes it was decoded from) the encoding is checked as well; the
    verifier checks a whole batch of items at once and passes ``None``.
    """
    if type(item) is not dict or tuple(item) != ITEM_KEYS:
        if type(item) is dict and len(item) == 4 and set(item) == set(ITEM_KEYS):
            return "item_encoding"  # right keys, wrong order
        return "item_structure"
    digest_id = item["digestID"]
    salt = item["random"]
    identifier = item["elementIdentifier"]
    value = item["elementValue"]
    if (
        type(digest_id) is not int
        or not 0 <= digest_id < 2**31
        or type(salt) is not bytes
        or len(salt) != SALT_BYTES
        or type(identifier) is not str
    ):
        return "item_structure"
    if not isinstance(value, _SCALARS) and not is_canonical(value, cbor2.dumps(value)):
        return "item_encoding"  # a container value with keys out of order
    if content is not None and not is_deterministic(item, content):
        return "item_encoding"
    return digest_id, identifier, value


def parse_record(data: bytes) -> ParsedRecord:
    """Parse IssuerSigned bytes.  Structure errors raise :class:`RecordFormatError`;
    a malformed single item is reported in ``problems`` and skipped."""
    namespaces, issuer_auth, received = decode_record(data)
    items: list[ParsedItem] = []
    problems: list[tuple[str, str]] = []
    for ns, entries in namespaces.items():
        for entry, raw in zip(entries, received[ns], strict=True):
            if type(entry) is not CBORTag or entry.tag != 24 or type(entry.value) is not bytes:
                problems.append(("item_not_tag24", ns))
                continue
            encoded = entry.value
            try:
                item = loads(encoded, ITEM_TAGS)
            except CborError:
                problems.append(("item_undecodable", ns))
                continue
            checked = check_item(item, encoded)
            if isinstance(checked, str):
                problems.append((checked, ns))
                continue
            digest_id, identifier, value = checked
            digest = _sha256(raw).digest()
            items.append(ParsedItem(ns, digest_id, identifier, value, encoded, digest))
    return ParsedRecord(tuple(items), issuer_auth, tuple(problems))
