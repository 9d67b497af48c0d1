"""Strict BER-TLV (ISO/IEC 7816-4 5.2) and COMPACT-TLV parsing and building.

Card responses are untrusted input: every malformation raises :class:`TlvError`,
never IndexError or a silently truncated value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import TlvError

__all__ = ["Tlv", "build_tlv", "find_tlv", "parse_compact_tlv", "parse_tlv", "require_tlv"]


@dataclass(frozen=True)
class Tlv:
    """One data object; ``tag`` as an int of its encoded bytes (e.g. 0x7F49)."""

    tag: int
    value: bytes = field(repr=False)

    @property
    def constructed(self) -> bool:
        first = self.tag.to_bytes(max(1, (self.tag.bit_length() + 7) // 8), "big")[0]
        return bool(first & 0x20)

    def children(self) -> list[Tlv]:
        """Parse the value as a sequence of data objects."""
        return parse_tlv(self.value)

    def encode(self) -> bytes:
        return build_tlv(self.tag, self.value)

    def __repr__(self) -> str:
        return f"Tlv(tag={self.tag:X}, len={len(self.value)})"


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("truncated tag")
    first = data[pos]
    if first in (0x00, 0xFF):
        raise TlvError(f"invalid tag byte {first:02X} at offset {pos}")
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:
        while True:
            if pos >= len(data):
                raise TlvError("truncated multi-byte tag")
            b = data[pos]
            tag = (tag << 8) | b
            pos += 1
            if not b & 0x80:
                break
            if tag > 0xFFFFFFFF:
                raise TlvError("tag longer than 4 bytes")
    return tag, pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("truncated length")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0 or count > 3:
        raise TlvError(f"unsupported length encoding {first:02X}")
    if pos + count > len(data):
        raise TlvError("truncated long-form length")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def parse_tlv(data: bytes) -> list[Tlv]:
    """Parse a concatenation of BER-TLV data objects (the whole input must be consumed)."""
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        if pos + length > len(data):
            raise TlvError(
                f"value of tag {tag:X} truncated: {length} bytes announced, "
                f"{len(data) - pos} present"
            )
        out.append(Tlv(tag, bytes(data[pos : pos + length])))
        pos += length
    return out


def find_tlv(objects: Iterable[Tlv], tag: int) -> Tlv | None:
    """The first object with ``tag``, or None."""
    for obj in objects:
        if obj.tag == tag:
            return obj
    return None


def require_tlv(objects: Iterable[Tlv], tag: int, length: int | None = None) -> bytes:
    """The value of the first object with ``tag``; TlvError if absent or of another length."""
    obj = find_tlv(objects, tag)
    if obj is None:
        raise TlvError(f"missing data object {tag:X}")
    if length is not None and len(obj.value) != length:
        raise TlvError(f"data object {tag:X} has length {len(obj.value)}, expected {length}")
    return obj.value


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    if length <= 0xFF:
        return b"\x81" + bytes((length,))
    if length <= 0xFFFF:
        return b"\x82" + length.to_bytes(2, "big")
    if length <= 0xFFFFFF:
        return b"\x83" + length.to_bytes(3, "big")
    raise ValueError("value too long for BER-TLV")


def build_tlv(tag: int, value: bytes) -> bytes:
    """Encode one data object (definite length, minimal length encoding)."""
    if not 0 < tag <= 0xFFFFFFFF:
        raise ValueError(f"invalid tag {tag}")
    tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    return tag_bytes + _encode_length(len(value)) + value


def parse_compact_tlv(data: bytes) -> dict[int, bytes]:
    """Parse COMPACT-TLV (ISO/IEC 7816-4 8.1.1.2): one byte ``tag<<4 | length``.

    Returns {tag nibble: value}; a repeated tag keeps the first occurrence.
    """
    out: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        tag, length = data[pos] >> 4, data[pos] & 0x0F
        pos += 1
        if pos + length > len(data):
            raise TlvError(f"compact-TLV object {tag:X} truncated")
        out.setdefault(tag, bytes(data[pos : pos + length]))
        pos += length
    return out
