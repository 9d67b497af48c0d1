"""The one parser of the IssuerSigned record (EF.Record, or a presentation of it).

Strict, because these bytes are untrusted until their signature and digests are checked
(docs/record-format.md, "IssuerSigned"): only tag 24 may occur in the envelope and only the
item tags inside an item; duplicate map keys, indefinite lengths and non-deterministic
encodings are refused; each item's digest is over its tag-24 bytes exactly as received, never
over a re-encoding.  :func:`decode_record` checks the envelope, :func:`parse_record` every
item; the verifier (:mod:`.verifier`), selective disclosure and endorsement all use them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import cbor2
from cbor2 import CBORTag

from card_service.card.wire import FILE_MAX_SIZE, FileId
from permit_errors import ErrorKind, PermitError

from .cbor_types import (
    ITEM_TAGS,
    RECORD_TAGS,
    CborError,
    array_header,
    bstr_header,
    dumps,
    is_canonical,
    is_deterministic,
    key_order,
    loads,
    loads_prefix,
    map_header,
)

__all__ = [
    "ITEM_ENCODING",
    "ITEM_KEYS",
    "ITEM_SHAPE",
    "RECORD_MAX_BYTES",
    "SALT_BYTES",
    "DecodedRecord",
    "ItemProblem",
    "ParsedItem",
    "ParsedRecord",
    "RecordFormatError",
    "check_item",
    "decode_record",
    "parse_record",
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
    #: Whether ``encoded`` is the item's deterministic encoding.  An item with the right
    #: structure but other bytes (keys out of order, a long head) is kept, flagged, so that a
    #: verifier can still compare its digest (and name a forgery); it is never in ``items``.
    exact: bool = True


class ItemProblem(NamedTuple):
    """An entry of a namespace that is not a usable IssuerSignedItem."""

    namespace: str
    #: ``item_not_tag24``, ``item_undecodable``, ``item_structure`` or ``item_encoding``.
    code: str
    #: Names the broken rule, never a value.
    message: str


@dataclass(frozen=True)
class ParsedRecord:
    """IssuerSigned split into its entries and issuerAuth."""

    #: Every entry of every namespace, in the order received: an item or why it is not one.
    entries: tuple[ParsedItem | ItemProblem, ...]
    issuer_auth: Any

    @property
    def items(self) -> tuple[ParsedItem, ...]:
        """The well-formed items in deterministic encoding (what a holder may present)."""
        return tuple(e for e in self.entries if isinstance(e, ParsedItem) and e.exact)

    @property
    def problems(self) -> tuple[tuple[str, str], ...]:
        """(code, namespace) for every entry that is not in :attr:`items`."""
        return tuple(
            (e.code, e.namespace) if isinstance(e, ItemProblem) else ("item_encoding", e.namespace)
            for e in self.entries
            if not (isinstance(e, ParsedItem) and e.exact)
        )


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

    With ``content`` (the bytes it was decoded from) the encoding is checked as well;
    :func:`parse_record` checks the encoding itself (a whole batch at once) and passes ``None``.
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


ITEM_SHAPE = "an IssuerSignedItem is malformed"
ITEM_ENCODING = "an IssuerSignedItem is not in deterministic encoding"
_NOT_TAG24 = "item is not #6.24(bstr)"


def parse_record(
    data: bytes | DecodedRecord,
    *,
    signed_digests: Mapping[str, Mapping[int, bytes]] | None = None,
) -> ParsedRecord:
    """Parse IssuerSigned (bytes, or what :func:`decode_record` made of them): the one parser
    of the record.  Structure errors raise :class:`RecordFormatError`; an entry that is not a
    usable item is an :class:`ItemProblem` among the entries.

    ``signed_digests`` (the MSO's valueDigests, which the verifier has) only makes parsing
    faster, never different: when every item digest of a namespace is a signed one, the bytes
    are the issuer's own items, so they are decoded with one ``cbor2`` call over their
    concatenation and their encoding is checked with one re-encoding.  (Without that
    knowledge items are decoded one by one: a crafted item could otherwise run into the next.)
    """
    namespaces, issuer_auth, received = (
        data if isinstance(data, DecodedRecord) else decode_record(data)
    )
    entries: list[ParsedItem | ItemProblem] = []
    for ns, items in namespaces.items():
        signed = None if signed_digests is None else signed_digests.get(ns)
        _parse_namespace(ns, items, received[ns], signed, entries)
    return ParsedRecord(tuple(entries), issuer_auth)


def _parse_namespace(
    ns: str,
    entries: list[Any],
    received: list[memoryview],
    signed: Any,
    out: list[ParsedItem | ItemProblem],
) -> None:
    """Append the entries of one namespace to ``out``, in the order received; each digest is
    over the received bytes (18013-5 9.1.2.5).  This runs for every item of every
    verification: the common case (all tag 24, keys in order, scalar values) is inline."""
    encoded: list[bytes] = []
    digests: list[bytes] = []
    not_tagged: list[int] = []
    for index, (entry, raw) in enumerate(zip(entries, received, strict=True)):
        if type(entry) is not CBORTag or entry.tag != 24 or type(entry.value) is not bytes:
            not_tagged.append(index)
            continue
        encoded.append(entry.value)
        digests.append(_sha256(raw).digest())
    parsed: list[ParsedItem | ItemProblem] = []
    batch = _decode_signed_batch(encoded, digests, signed)
    if batch is not None:
        new = tuple.__new__  # ParsedItem(...) without its Python-level __new__
        for item, content, digest in zip(batch, encoded, digests, strict=True):
            ok = _well_formed(item)
            if ok is not None:
                parsed.append(new(ParsedItem, (ns, *ok, content, digest, True)))
            else:
                parsed.append(_parsed_item(ns, item, content, digest, True))
    else:
        for content, digest in zip(encoded, digests, strict=True):
            try:
                item = loads(content, ITEM_TAGS)
            except CborError as exc:
                parsed.append(ItemProblem(ns, "item_undecodable", f"item: {exc}"))
                continue
            exact = is_deterministic(item, content)
            parsed.append(_parsed_item(ns, item, content, digest, exact))
    for index in not_tagged:  # ascending: each lands at its received position
        parsed.insert(index, ItemProblem(ns, "item_not_tag24", _NOT_TAG24))
    out += parsed


def _decode_signed_batch(encoded: list[bytes], digests: list[bytes], signed: Any) -> Any:
    """All items decoded at once, if every digest is signed and the batch is deterministic
    (then each item is its own deterministic encoding); ``None`` otherwise."""
    if type(signed) is not dict or not encoded or not set(signed.values()).issuperset(digests):
        return None
    batch = array_header(len(encoded)) + b"".join(encoded)
    try:
        decoded = loads_prefix(batch, ITEM_TAGS)  # is_deterministic: nothing trailing
    except CborError:
        return None
    if type(decoded) is list and len(decoded) == len(encoded) and is_deterministic(decoded, batch):
        return decoded
    return None


def _well_formed(item: Any) -> tuple[int, str, Any] | None:
    """``(digestID, elementIdentifier, elementValue)`` of an item whose keys are exactly
    :data:`ITEM_KEYS` in order and whose values have the right types; ``None`` otherwise
    (the fast path of :func:`check_item`, which says what is wrong)."""
    if type(item) is not dict or tuple(item) != ITEM_KEYS:
        return None
    digest_id = item["digestID"]
    salt = item["random"]
    identifier = item["elementIdentifier"]
    value = item["elementValue"]
    if (
        type(digest_id) is int
        and 0 <= digest_id < 2**31
        and type(salt) is bytes
        and len(salt) == SALT_BYTES
        and type(identifier) is str
        and isinstance(value, _SCALARS)
    ):
        return digest_id, identifier, value
    return None


def _parsed_item(
    ns: str, item: Any, encoded: bytes, digest: bytes, exact: bool
) -> ParsedItem | ItemProblem:
    """An item by the rules of :func:`check_item`; keys out of order make it inexact."""
    if type(item) is dict and tuple(item) == ITEM_KEYS:
        ok = _well_formed(item)
        if ok is not None:
            return ParsedItem(ns, *ok, encoded, digest, exact)
        checked = check_item(item)
    else:
        checked = check_item(item)
        if checked == "item_encoding" and type(item) is dict:  # right keys, out of order
            exact = False
            checked = check_item({k: item[k] for k in ITEM_KEYS})
    if isinstance(checked, str):
        message = ITEM_ENCODING if checked == "item_encoding" else ITEM_SHAPE
        return ItemProblem(ns, checked, message)
    digest_id, identifier, value = checked
    return ParsedItem(ns, digest_id, identifier, value, encoded, digest, exact)
