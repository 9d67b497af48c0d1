"""The portrait: a baseline or progressive JPEG (JFIF/Exif), checked structurally.

We do not decode the image; we walk the JPEG segment structure (ISO/IEC 10918-1 Annex B):
SOI, marker segments with consistent lengths, a frame header (SOF0-SOF2) with non-zero
dimensions and 1 or 3 components, Huffman or arithmetic tables, a scan (SOS), entropy-coded
data and EOI as the last two bytes.  That rejects truncated files, other formats and files
with trailing data, which is what a record must never carry.
"""

from __future__ import annotations

__all__ = ["PORTRAIT_MAX_BYTES", "PORTRAIT_MIN_BYTES", "check_jpeg", "jpeg_dimensions"]

#: Size limits of the portrait element (bytes).  A 10 KB portrait is typical; 20 KiB keeps the
#: record within EF.Record (32768 bytes) with every text field at its limit.
PORTRAIT_MAX_BYTES = 20480
PORTRAIT_MIN_BYTES = 125

_SOF_MARKERS = {0xC0, 0xC1, 0xC2}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` if ``data`` is a well-formed JPEG, else ``None``."""
    return None if check_jpeg(data) else _walk(data)[1]


def _walk(data: bytes) -> tuple[list[str], tuple[int, int] | None]:
    problems: list[str] = []
    size: tuple[int, int] | None = None
    if data[:3] != b"\xff\xd8\xff":
        return ["not a JPEG (no SOI marker)"], None
    pos = 2
    seen_tables = False
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            return ["JPEG segment structure is broken"], None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == 0xD9:
            return ["JPEG ends before its scan"], None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            return ["JPEG segment length is out of range"], None
        body = data[pos + 4 : pos + 2 + length]
        if marker in _SOF_MARKERS:
            if len(body) < 6:
                return ["JPEG frame header is too short"], None
            height = int.from_bytes(body[1:3], "big")
            width = int.from_bytes(body[3:5], "big")
            if width == 0 or height == 0 or body[5] not in (1, 3):
                problems.append("JPEG frame has no size or an unsupported component count")
            size = (width, height)
        elif marker in (0xC3, *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)):
            return ["JPEG uses an unsupported coding process"], None
        elif marker in (0xC4, 0xCC):
            seen_tables = True
        pos += 2 + length
        if marker == 0xDA:
            break
    if size is None:
        problems.append("JPEG has no frame header before its scan")
    if not seen_tables:
        problems.append("JPEG has no entropy-coding tables")
    if data[-2:] != b"\xff\xd9" or len(data) - pos < 3:
        problems.append("JPEG does not end with EOI after its scan data")
    return problems, size


def check_jpeg(data: bytes) -> list[str]:
    """Every problem of ``data`` as a portrait (empty if acceptable)."""
    if not isinstance(data, bytes | bytearray):
        return ["must be a byte string"]
    if len(data) > PORTRAIT_MAX_BYTES:
        return [f"larger than {PORTRAIT_MAX_BYTES} bytes"]
    if len(data) < PORTRAIT_MIN_BYTES:
        return [f"smaller than {PORTRAIT_MIN_BYTES} bytes"]
    return _walk(bytes(data))[0]
