"""CBOR helpers: deterministic encoding, strict decoding, tag 24 and dates.

Everything that is hashed or signed is encoded with RFC 8949 core deterministic encoding
(``canonical=True``: shortest forms, definite lengths, map keys sorted; for every map of this
format the length-first order cbor2 uses and the bytewise order of RFC 8949 section 4.2.1 are
the same).

**Decoding untrusted bytes.**  ``cbor2`` has semantic decoders for about twenty tags (MIME
messages, regular expressions, sets, shared and cyclic references, big numbers, decimal
fractions, ...) that run while decoding, before any signature is checked.  Every decode here
names the *only* tags the structure may contain (:class:`Tags`); every other tag, whether
cbor2 knows it or not, fails the decode before its content is interpreted.  Tags 0 and 1004, where
allowed, are read by cbor2's own decoders; since signed content must re-encode to exactly its
bytes (:func:`is_deterministic`), only ``YYYY-MM-DDTHH:MM:SSZ`` and ``YYYY-MM-DD`` pass, and
:func:`as_utc` refuses any offset but UTC.
Indefinite lengths, duplicate map keys, invalid UTF-8 and nesting deeper than
:data:`MAX_DEPTH` are refused.  :func:`is_deterministic` checks that decoded bytes are their
own deterministic encoding (shortest heads and lengths), which callers combine with a check of
the map key order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from io import BytesIO
from typing import Any

import cbor2

from keys.clock import require_utc
from permit_errors import ErrorKind, PermitError

__all__ = [
    "CborError",
    "Tags",
    "bstr_header",
    "dumps",
    "embedded",
    "embedded_bytes",
    "is_deterministic",
    "loads",
    "loads_sequence",
    "tdate",
]

#: Maximum nesting depth accepted when decoding (our structures need 5).
MAX_DEPTH = 16
#: The tags cbor2 6.3 decodes by itself (``tests/record/test_record_strict.py`` probes the
#: installed cbor2 so that an upgrade adding one fails the suite).  Each is overridden by a
#: decoder that refuses it, unless the structure allows it; any other tag reaches the tag hook,
#: which refuses all but the allowed ones.
CBOR2_SEMANTIC_TAGS = frozenset(
    {0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004,
     43000, 55799}
)  # fmt: skip
TAG_TDATE = 0
TAG_EMBEDDED = 24
TAG_SIGN1 = 18
TAG_FULL_DATE = 1004


class CborError(PermitError, ValueError):
    """Bytes that are not the CBOR we expect."""

    code = "cbor_invalid"
    kind = ErrorKind.INTEGRITY


class _TagRefused(Exception):
    def __init__(self, tag: int) -> None:
        super().__init__(tag)
        self.tag = tag


def _refuser(tag: int) -> Callable[[Any, bool], Any]:
    def refuse(value: Any, immutable: bool) -> Any:
        raise _TagRefused(tag)

    return refuse


class Tags:
    """The tags one structure may contain; decoding with it refuses every other tag."""

    def __init__(self, *allowed: int) -> None:
        self.allowed = frozenset(allowed)
        # cbor2's own decoders stay for tags 0 and 1004 (C, fast): a string it reads leniently
        # (a fraction, an offset, ISO week dates) does not re-encode to the same bytes, which
        # every decode of signed content checks (is_deterministic), and as_utc wants UTC.
        self.semantic_decoders: dict[int, Callable[[Any, bool], Any]] = {
            t: _refuser(t) for t in CBOR2_SEMANTIC_TAGS - self.allowed
        }
        embedded_ok = TAG_EMBEDDED in self.allowed
        sign1_ok = TAG_SIGN1 in self.allowed

        def hook(tag: cbor2.CBORTag, immutable: bool) -> Any:
            number = tag.tag
            if number == TAG_EMBEDDED and embedded_ok and type(tag.value) is bytes:
                return tag
            if number == TAG_SIGN1 and sign1_ok and type(tag.value) is tuple:
                return cbor2.CBORTag(number, list(tag.value))  # cbor2 hands tag content frozen
            raise _TagRefused(number)

        self.tag_hook = hook

    def __repr__(self) -> str:
        return f"Tags{tuple(sorted(self.allowed))}"


#: No tag at all (COSE headers).
NO_TAGS = Tags()
#: IssuerSigned: the IssuerSignedItemBytes are tag 24.
RECORD_TAGS = Tags(TAG_EMBEDDED)
#: IssuerSignedItem: ``full-date`` element values.
ITEM_TAGS = Tags(TAG_FULL_DATE)
#: MobileSecurityObject: ``tdate`` in validityInfo.
MSO_TAGS = Tags(TAG_TDATE)
#: EF.Endorsements: tagged COSE_Sign1 items.
SIGN1_TAGS = Tags(TAG_SIGN1)
#: Endorsement payload: ``full-date`` periods and the ``tdate`` of the endorsement.
ENDORSEMENT_TAGS = Tags(TAG_TDATE, TAG_FULL_DATE)


def _error(exc: BaseException, what: str) -> CborError:
    """A :class:`CborError` naming the refused tag or the kind of failure (never the data)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, _TagRefused):
            return CborError(f"{what}: tag {cause.tag} is not allowed here")
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "indefinite" in text:
        return CborError(f"{what}: indefinite lengths are not allowed")
    if "duplicate" in text:
        return CborError(f"{what}: duplicate map key")
    if "depth" in text:
        return CborError(f"{what}: nested too deeply")
    return CborError(f"{what} ({type(exc).__name__})")


def dumps(value: Any) -> bytes:
    """Deterministic encoding (RFC 8949 section 4.2.1)."""
    return cbor2.dumps(value, canonical=True)


def _decoder(stream: BytesIO, tags: Tags) -> cbor2.CBORDecoder:
    return cbor2.CBORDecoder(
        stream,
        tag_hook=tags.tag_hook,
        semantic_decoders=tags.semantic_decoders,
        allow_indefinite=False,
        allow_duplicate_keys=False,
        max_depth=MAX_DEPTH,
    )


def loads(data: bytes, tags: Tags = NO_TAGS) -> Any:
    """Decode exactly one CBOR item (trailing bytes are an error) with only ``tags``."""
    stream = BytesIO(data)
    try:
        value = _decoder(stream, tags).decode()
    except Exception as exc:  # cbor2 raises several types, incl. ValueError from tags
        raise _error(exc, "undecodable CBOR") from None
    if stream.tell() != len(data):
        raise CborError("trailing bytes after the CBOR item")
    return value


def loads_prefix(data: bytes, tags: Tags) -> Any:
    """Decode the first item of ``data``; the caller proves there is nothing else.

    Faster than :func:`loads` (no stream): used where :func:`is_deterministic` compares the
    re-encoding with all of ``data`` (so a trailing byte is refused there).
    """
    try:
        return cbor2.loads(
            data,
            tag_hook=tags.tag_hook,
            semantic_decoders=tags.semantic_decoders,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            max_depth=MAX_DEPTH,
        )
    except Exception as exc:
        raise _error(exc, "undecodable CBOR") from None


def is_deterministic(value: Any, data: bytes) -> bool:
    """Whether ``data`` is exactly the preferred encoding of ``value`` as decoded from it.

    cbor2 writes shortest integer and length heads and definite lengths, and keeps the map
    order it decoded, so equality proves shortest forms and nothing trailing; the caller
    checks the key order of the maps (:func:`keys_in_order`, or exact key tuples).
    """
    try:
        return bool(cbor2.dumps(value) == data)
    except Exception:
        return False


def is_canonical(value: Any, data: bytes) -> bool:
    """Whether ``data`` is the deterministic encoding of ``value`` (key order included)."""
    try:
        return bool(dumps(value) == data)
    except Exception:
        return False


def key_order(keys: Any) -> tuple[Any, ...]:
    """The deterministic order of a set of map keys (encoded length first, then bytes)."""
    return tuple(sorted(keys, key=lambda k: (len(dumps(k)), dumps(k))))


def loads_sequence(data: bytes, max_items: int = 64, tags: Tags = SIGN1_TAGS) -> list[Any]:
    """Decode a CBOR sequence (RFC 8742): self-delimiting items one after another.

    Each item must be in preferred encoding: the concatenation of the re-encoded items must
    give back ``data``.
    """
    items: list[Any] = []
    stream = BytesIO(data)
    try:
        while stream.tell() < len(data):
            if len(items) >= max_items:
                raise CborError(f"more than {max_items} items")
            items.append(_decoder(stream, tags).decode())
    except CborError:
        raise
    except Exception as exc:
        raise _error(exc, "undecodable CBOR sequence") from None
    try:
        again = (
            cbor2.dumps(items[0]) if len(items) == 1 else b"".join([cbor2.dumps(i) for i in items])
        )
    except Exception:
        again = b""
    if again != data:
        raise CborError("CBOR sequence is not in deterministic encoding")
    return items


def bstr_header(length: int) -> bytes:
    """The shortest CBOR head of a byte string of ``length`` bytes (major type 2)."""
    if length < 24:
        return bytes([0x40 | length])
    if length < 0x100:
        return bytes([0x58, length])
    if length < 0x10000:
        return b"\x59" + length.to_bytes(2, "big")
    if length < 0x100000000:
        return b"\x5a" + length.to_bytes(4, "big")
    return b"\x5b" + length.to_bytes(8, "big")


def array_header(length: int) -> bytes:
    """The shortest CBOR head of an array of ``length`` items (major type 4)."""
    return bytes([bstr_header(length)[0] + 0x40]) + bstr_header(length)[1:]


def map_header(length: int) -> bytes:
    """The shortest CBOR head of a map of ``length`` pairs (major type 5)."""
    return bytes([bstr_header(length)[0] + 0x60]) + bstr_header(length)[1:]


def embedded(value: Any) -> cbor2.CBORTag:
    """``#6.24(bstr .cbor value)``: the item encoded deterministically inside tag 24."""
    return cbor2.CBORTag(24, dumps(value))


def embedded_bytes(inner: bytes) -> bytes:
    """The encoding of ``#6.24(bstr)`` around already encoded ``inner`` bytes.

    This is what ISO/IEC 18013-5 hashes (IssuerSignedItemBytes, MobileSecurityObjectBytes).
    """
    return b"\xd8\x18" + bstr_header(len(inner)) + inner


def tdate(value: dt.datetime) -> cbor2.CBORTag:
    """``tdate`` (tag 0): UTC, whole seconds, ``Z``."""
    utc = require_utc(value, "datetime").replace(microsecond=0, tzinfo=None)
    return cbor2.CBORTag(0, utc.isoformat() + "Z")


def as_utc(value: Any) -> dt.datetime | None:
    """A decoded ``tdate`` (an aware datetime in UTC: tag 0 ``...Z``) or ``None``."""
    if type(value) is dt.datetime and value.utcoffset() == dt.timedelta(0):
        return value.astimezone(dt.UTC)
    return None


def as_date(value: Any) -> dt.date | None:
    """A decoded ``full-date`` (tag 1004) or ``None``."""
    if type(value) is dt.date:
        return value
    return None
