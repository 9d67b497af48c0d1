"""Parsing command APDUs, short and extended (ISO/IEC 7816-4 5.1)."""

from __future__ import annotations

from dataclasses import dataclass

from card_service.card.wire import MAX_COMMAND_DATA

__all__ = ["CommandApdu", "MalformedApdu", "parse_apdu"]

SHORT_MAX_NE = 256
EXTENDED_MAX_NE = 65536


class MalformedApdu(Exception):
    """Length fields inconsistent with the APDU: the card answers 6700 and does nothing else."""


@dataclass(frozen=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    ne: int | None  # None: no Le field
    extended: bool

    def __repr__(self) -> str:  # never show the body
        return (
            f"CommandApdu(cla={self.cla:02X}, ins={self.ins:02X}, p1={self.p1:02X}, "
            f"p2={self.p2:02X}, nc={len(self.data)}, ne={self.ne}, extended={self.extended})"
        )

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))

    @property
    def lc_field(self) -> bytes:
        """The Lc field exactly as it was sent (SCP03 MACs cover it)."""
        if not self.data:
            return b""
        if self.extended:
            return b"\x00" + len(self.data).to_bytes(2, "big")
        return bytes((len(self.data),))

    @property
    def max_ne(self) -> int:
        return EXTENDED_MAX_NE if self.extended else SHORT_MAX_NE

    @property
    def le_is_max(self) -> bool:
        """Le was ``00`` (short) or ``00 00`` (extended)."""
        return self.ne == self.max_ne

    @property
    def response_limit(self) -> int:
        """Most response data bytes one response may carry (Ne, or the form's maximum)."""
        return self.max_ne if self.ne is None else self.ne


def parse_apdu(raw: bytes) -> CommandApdu:
    """Parse ``raw`` into a command APDU; :class:`MalformedApdu` on any length inconsistency."""
    n = len(raw)
    if n < 4:
        raise MalformedApdu("shorter than a header")
    cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]

    def apdu(data: bytes, ne: int | None, extended: bool) -> CommandApdu:
        if len(data) > MAX_COMMAND_DATA:
            raise MalformedApdu("Nc above the card's limit")
        return CommandApdu(cla, ins, p1, p2, bytes(data), ne, extended)

    if n == 4:  # case 1
        return apdu(b"", None, False)
    b4 = raw[4]
    if n == 5:  # case 2S
        return apdu(b"", b4 or SHORT_MAX_NE, False)
    if b4 != 0:
        if n == 5 + b4:  # case 3S
            return apdu(raw[5:], None, False)
        if n == 6 + b4:  # case 4S
            return apdu(raw[5:-1], raw[-1] or SHORT_MAX_NE, False)
        raise MalformedApdu("body length does not match short Lc")
    # b4 == 00 and more bytes follow: extended length
    if n < 7:
        raise MalformedApdu("truncated extended length field")
    field = int.from_bytes(raw[5:7], "big")
    if n == 7:  # case 2E
        return apdu(b"", field or EXTENDED_MAX_NE, True)
    if field == 0:
        raise MalformedApdu("extended Lc of zero")
    if n == 7 + field:  # case 3E
        return apdu(raw[7:], None, True)
    if n == 9 + field:  # case 4E
        le = int.from_bytes(raw[-2:], "big")
        return apdu(raw[7:-2], le or EXTENDED_MAX_NE, True)
    raise MalformedApdu("body length does not match extended Lc")
