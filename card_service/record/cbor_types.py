"""CBOR helpers: deterministic encoding, strict decoding, tag 24 and dates.

Everything that is hashed or signed is encoded with RFC 8949 core deterministic encoding
(``canonical=True``: shortest forms, map keys sorted bytewise).  Decoding is strict: no
indefinite lengths, no duplicate map keys, a bounded nesting depth.  ``full-date`` is tag 1004
(RFC 8943) and ``tdate`` is tag 0 with a UTC ``Z`` string and no fraction (ISO/IEC 18013-5).
"""

from __future__ import annotations

import datetime as dt
from io import BytesIO
from typing import Any

import cbor2

__all__ = [
    "CborError",
    "bstr_header",
    "dumps",
    "embedded",
    "embedded_bytes",
    "loads",
    "loads_sequence",
    "tdate",
]

#: Maximum nesting depth accepted when decoding (our structures need 5).
MAX_DEPTH = 16


class CborError(ValueError):
    """Bytes that are not the CBOR we expect."""


def dumps(value: Any) -> bytes:
    """Deterministic encoding (RFC 8949 section 4.2.1)."""
    return cbor2.dumps(value, canonical=True)


def loads(data: bytes) -> Any:
    """Decode exactly one CBOR item (trailing bytes are an error); :class:`CborError`."""
    stream = BytesIO(data)
    try:
        value = cbor2.CBORDecoder(
            stream, allow_indefinite=False, allow_duplicate_keys=False, max_depth=MAX_DEPTH
        ).decode()
    except Exception as exc:  # cbor2 raises several types, incl. ValueError from tags
        raise CborError(f"undecodable CBOR ({type(exc).__name__})") from None
    if stream.tell() != len(data):
        raise CborError("trailing bytes after the CBOR item")
    return value


def loads_signed(data: bytes) -> Any:
    """Decode an item whose bytes are covered by a digest compared by the caller.

    Faster than :func:`loads` (no trailing-bytes check): any extra byte changes the digest,
    which the verifier reports as a forgery.
    """
    try:
        return cbor2.loads(
            data, allow_indefinite=False, allow_duplicate_keys=False, max_depth=MAX_DEPTH
        )
    except Exception as exc:
        raise CborError(f"undecodable CBOR ({type(exc).__name__})") from None


def loads_sequence(data: bytes, max_items: int = 64) -> list[Any]:
    """Decode a CBOR sequence (RFC 8742): self-delimiting items one after another."""
    items: list[Any] = []
    stream = BytesIO(data)
    try:
        while stream.tell() < len(data):
            if len(items) >= max_items:
                raise CborError(f"more than {max_items} items")
            decoder = cbor2.CBORDecoder(
                stream, allow_indefinite=False, allow_duplicate_keys=False, max_depth=MAX_DEPTH
            )
            items.append(decoder.decode())
    except CborError:
        raise
    except Exception as exc:
        raise CborError(f"undecodable CBOR sequence ({type(exc).__name__})") from None
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
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    utc = value.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None)
    return cbor2.CBORTag(0, utc.isoformat() + "Z")


def as_utc(value: Any) -> dt.datetime | None:
    """A decoded ``tdate`` (cbor2 turns tag 0 into an aware datetime) or ``None``."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return None


def as_date(value: Any) -> dt.date | None:
    """A decoded ``full-date`` (tag 1004) or ``None``."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return None
