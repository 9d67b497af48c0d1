"""ATR parsing: just enough to find the card's capabilities (ISO/IEC 7816-3/-4).

The historical bytes carry, in COMPACT-TLV tag 7 ("card capabilities"), a third
byte whose bit 80 announces command chaining and bit 40 extended Lc/Le.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ResponseFormatError, TlvError
from .tlv import parse_compact_tlv

__all__ = ["CardCapabilities", "historical_bytes", "parse_capabilities"]

_CHAINING = 0x80
_EXTENDED = 0x40


@dataclass(frozen=True)
class CardCapabilities:
    command_chaining: bool = False
    extended_length: bool = False


def historical_bytes(atr: bytes) -> bytes:
    """The historical bytes of ``atr``; ResponseFormatError if the ATR is malformed."""
    if len(atr) < 2 or atr[0] not in (0x3B, 0x3F):
        raise ResponseFormatError("ATR too short or bad TS byte")
    count = atr[1] & 0x0F
    y = atr[1] >> 4
    pos = 2
    while True:
        pos += bin(y & 0x0F).count("1") - (1 if y & 0x08 else 0)  # TA, TB, TC
        if not y & 0x08:
            break
        if pos >= len(atr):
            raise ResponseFormatError("ATR truncated in interface bytes")
        y = atr[pos] >> 4
        pos += 1
    if pos + count > len(atr):
        raise ResponseFormatError("ATR truncated in historical bytes")
    return atr[pos : pos + count]


def parse_capabilities(atr: bytes) -> CardCapabilities:
    """Card capabilities from the ATR; none announced if absent or unparsable."""
    try:
        hist = historical_bytes(atr)
    except ResponseFormatError:
        return CardCapabilities()
    if not hist:
        return CardCapabilities()
    if hist[0] == 0x80:
        body = hist[1:]
    elif hist[0] == 0x00 and len(hist) >= 4:
        body = hist[1:-3]  # status indicator in the last three bytes
    else:
        return CardCapabilities()
    try:
        objects = parse_compact_tlv(body)
    except TlvError:
        return CardCapabilities()
    caps = objects.get(0x7, b"")
    if len(caps) < 3:
        return CardCapabilities()
    return CardCapabilities(
        command_chaining=bool(caps[2] & _CHAINING),
        extended_length=bool(caps[2] & _EXTENDED),
    )
