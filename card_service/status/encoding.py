"""The Status List of draft-ietf-oauth-status-list: packed statuses, ZLIB, the CBOR map.

Section "Status List" of the draft:

* every Referenced Token (here: a permit) has an index; its status is ``bits`` bits (1, 2, 4
  or 8) of a byte array, the entries packed from the **least significant bit** of each byte
  up (index 0 is bits 0..1 of byte 0 with ``bits`` = 2);
* the byte array is compressed with DEFLATE in the **ZLIB** data format (RFC 1950/1951; the
  draft recommends the highest compression level, which :func:`compress` uses);
* the CBOR StatusList is the map ``{"bits": uint, "lst": bstr, ? "aggregation_uri": tstr}``.

permit uses ``bits`` = 2 with the draft's Status Types 0x00 VALID, 0x01 INVALID (revoked) and
0x02 SUSPENDED.  Decoding accepts every ``bits`` value of the draft (its test vectors use 1, 2,
4 and 8); a value that is not one of the three types is for the verifier to call unknown.

Packing works on whole byte strings (slices, ``bytes.translate``, one big-integer OR), so a
list of ten million permits packs in a fraction of a second without numpy.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import cbor2

from card_service.record.cbor_types import NO_TAGS, CborError, loads

from .errors import StatusListBuildError, StatusListCode, StatusListError

__all__ = [
    "ALLOWED_BITS",
    "MAX_LIST_BYTES",
    "PERMIT_BITS",
    "Status",
    "StatusList",
    "compress",
    "decode_status_list",
    "decompress",
    "entries_of",
    "pack",
    "unpack",
]


class Status(IntEnum):
    """The Status Types of the draft (section "Status Types Values")."""

    VALID = 0x00
    INVALID = 0x01
    SUSPENDED = 0x02


#: ``bits`` values the draft allows.
ALLOWED_BITS = (1, 2, 4, 8)
#: permit's lists: 2 bits, room for VALID, INVALID and SUSPENDED.
PERMIT_BITS = 2
#: The largest byte array a decoder inflates (64 MiB: 256 million 2-bit entries); a ZLIB
#: stream that inflates further is refused before it is held in memory (no ZLIB bomb).
MAX_LIST_BYTES = 64 * 1024 * 1024
_LIST_KEYS = frozenset({"bits", "lst", "aggregation_uri"})


def _check_bits(bits: object) -> int:
    if type(bits) is not int or bits not in ALLOWED_BITS:
        raise StatusListError("bits must be 1, 2, 4 or 8", StatusListCode.LIST_BITS)
    return bits


def entries_of(statuses: Mapping[int, int] | Sequence[int] | bytes, size: int) -> bytes:
    """One byte per index, ``size`` of them: the statuses of a mapping (absent = VALID) or of
    a sequence (shorter than ``size``: the rest VALID).  Every value must be a :class:`Status`.
    """
    if type(size) is not int or size < 0:
        raise StatusListBuildError("size must be a non-negative integer")
    if isinstance(statuses, Mapping):
        entries = bytearray(size)
        for index, status in statuses.items():
            if type(index) is not int or not 0 <= index < size:
                raise StatusListBuildError("a status index is outside 0 .. size - 1")
            if isinstance(status, bool) or status not in _STATUS_VALUES:
                raise StatusListBuildError("a status is not VALID, INVALID or SUSPENDED")
            entries[index] = status
        return bytes(entries)
    try:
        raw = statuses if isinstance(statuses, bytes | bytearray) else bytes(statuses)
    except (TypeError, ValueError):
        raise StatusListBuildError("statuses must be small integers (Status values)") from None
    if len(raw) > size:
        raise StatusListBuildError("more statuses than size")
    if raw and max(raw) > max(_STATUS_VALUES):
        raise StatusListBuildError("a status is not VALID, INVALID or SUSPENDED")
    return bytes(raw) + bytes(size - len(raw))


_STATUS_VALUES = frozenset(int(s) for s in Status)
#: ``_SHIFT[bits][k]``: the translate table mapping an entry to its value shifted into slot k.
_SHIFT: dict[int, list[bytes]] = {
    bits: [
        bytes(((v & ((1 << bits) - 1)) << (k * bits)) & 0xFF for v in range(256))
        for k in range(8 // bits)
    ]
    for bits in ALLOWED_BITS
}


def pack(entries: bytes, bits: int = PERMIT_BITS) -> bytes:
    """Pack one-byte-per-index ``entries`` into the draft's byte array, LSB first.

    The array has ``ceil(len(entries) * bits / 8)`` bytes; padding entries are 0 (VALID).
    Every entry must fit in ``bits`` (the caller checked; a larger one would be masked).
    """
    _check_bits(bits)
    per_byte = 8 // bits
    if bits == 8:
        return bytes(entries)
    padded = bytes(entries) + bytes(-len(entries) % per_byte)
    length = len(padded) // per_byte
    if not length:
        return b""
    total = 0
    for slot in range(per_byte):
        column = padded[slot::per_byte].translate(_SHIFT[bits][slot])
        total |= int.from_bytes(column, "little")
    # the columns are byte-aligned: OR of the little-endian integers ORs byte by byte
    return total.to_bytes(length, "little")


def unpack(packed: bytes, bits: int = PERMIT_BITS) -> bytes:
    """The entries (one byte per index, ``len(packed) * 8 / bits`` of them) of a byte array."""
    _check_bits(bits)
    per_byte = 8 // bits
    if bits == 8:
        return bytes(packed)
    mask = (1 << bits) - 1
    columns = [
        packed.translate(bytes((v >> (k * bits)) & mask for v in range(256)))
        for k in range(per_byte)
    ]
    out = bytearray(len(packed) * per_byte)
    for slot, column in enumerate(columns):
        out[slot::per_byte] = column
    return bytes(out)


def compress(packed: bytes) -> bytes:
    """DEFLATE in the ZLIB format at the highest level (the draft's recommendation)."""
    return zlib.compress(packed, level=9)


def decompress(lst: bytes, limit: int = MAX_LIST_BYTES) -> bytes:
    """Inflate a ZLIB stream (header and Adler-32 checked); refuse a truncated stream,
    trailing bytes and anything inflating beyond ``limit`` bytes."""
    inflater = zlib.decompressobj(wbits=15)  # ZLIB format only: no raw DEFLATE, no gzip
    try:
        data = inflater.decompress(lst, limit + 1)
    except zlib.error:
        raise StatusListError("lst is not a ZLIB stream", StatusListCode.LIST_COMPRESSION) from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise StatusListError(f"lst inflates beyond {limit} bytes", StatusListCode.LIST_COMPRESSION)
    if not inflater.eof:
        raise StatusListError("lst is a truncated ZLIB stream", StatusListCode.LIST_COMPRESSION)
    if inflater.unused_data:
        raise StatusListError(
            "lst has bytes after its ZLIB stream", StatusListCode.LIST_COMPRESSION
        )
    return data


@dataclass(frozen=True)
class StatusList:
    """A decoded Status List: ``bits`` and the uncompressed byte array (``packed``)."""

    bits: int
    packed: bytes
    aggregation_uri: str | None = None

    @classmethod
    def build(
        cls,
        statuses: Mapping[int, int] | Sequence[int] | bytes,
        size: int,
        bits: int = PERMIT_BITS,
    ) -> StatusList:
        """The list of ``size`` entries with ``statuses`` (see :func:`entries_of`); every
        status must fit in ``bits`` (SUSPENDED needs 2: it is never masked to VALID)."""
        entries = entries_of(statuses, size)
        if entries and max(entries) >> _check_bits(bits):
            raise StatusListBuildError(f"a status does not fit in {bits} bit(s)")
        return cls(bits, pack(entries, bits))

    @property
    def size(self) -> int:
        """How many indices the byte array holds (a multiple of ``8 / bits``)."""
        return len(self.packed) * 8 // self.bits

    def get(self, index: int) -> int:
        """The status value at ``index``; :class:`IndexError` outside ``0 .. size - 1``."""
        if type(index) is not int or not 0 <= index < self.size:
            raise IndexError("status list index out of range")
        byte, slot = divmod(index * self.bits, 8)
        return (self.packed[byte] >> slot) & ((1 << self.bits) - 1)

    def to_map(self) -> dict[str, Any]:
        """The CBOR StatusList map, ``bits`` first as in the draft's examples."""
        out: dict[str, Any] = {"bits": self.bits, "lst": compress(self.packed)}
        if self.aggregation_uri is not None:
            out["aggregation_uri"] = self.aggregation_uri
        return out

    def to_cbor(self) -> bytes:
        """The StatusList encoded as CBOR (preferred, definite-length encoding)."""
        return cbor2.dumps(self.to_map())


def status_list_from_map(value: Any, limit: int = MAX_LIST_BYTES) -> StatusList:
    """A decoded CBOR StatusList map (as found in the ``status_list`` claim), checked."""
    if not isinstance(value, Mapping):
        raise StatusListError("a StatusList must be a map", StatusListCode.LIST_MALFORMED)
    if any(type(k) is not str or k not in _LIST_KEYS for k in value):
        raise StatusListError(
            "a StatusList has keys other than bits, lst, aggregation_uri",
            StatusListCode.LIST_MALFORMED,
        )
    if "bits" not in value or "lst" not in value:
        raise StatusListError("a StatusList needs bits and lst", StatusListCode.LIST_MALFORMED)
    bits = _check_bits(value["bits"])
    lst = value["lst"]
    if type(lst) is not bytes:
        raise StatusListError("lst must be a byte string", StatusListCode.LIST_MALFORMED)
    aggregation = value.get("aggregation_uri")
    if aggregation is not None and type(aggregation) is not str:
        raise StatusListError(
            "aggregation_uri must be a text string", StatusListCode.LIST_MALFORMED
        )
    return StatusList(bits, decompress(lst, limit), aggregation)


def decode_status_list(data: bytes, limit: int = MAX_LIST_BYTES) -> StatusList:
    """Decode CBOR StatusList bytes (strict CBOR: no tags, no duplicate keys, nothing
    trailing)."""
    try:
        value = loads(data, NO_TAGS)
    except CborError as exc:
        raise StatusListError(f"StatusList: {exc}", StatusListCode.LIST_MALFORMED) from None
    return status_list_from_map(value, limit)
