"""Command and response APDUs (ISO/IEC 7816-4 5.1), short and extended encodings.

Reprs show lengths, never data bytes: command data can carry PIN blocks and
cryptograms, and reprs end up in logs and tracebacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "MAX_EXTENDED_NC",
    "MAX_EXTENDED_NE",
    "MAX_SHORT_NC",
    "MAX_SHORT_NE",
    "CommandApdu",
    "ResponseApdu",
]

MAX_SHORT_NC = 255
MAX_SHORT_NE = 256
MAX_EXTENDED_NC = 65535
MAX_EXTENDED_NE = 65536


@dataclass(frozen=True)
class CommandApdu:
    """A plain command APDU. ``ne`` is the maximum response length expected (None: no Le)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = field(default=b"", repr=False)
    ne: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{name} must be one byte, got {value}")
        if not isinstance(self.data, bytes):
            object.__setattr__(self, "data", bytes(self.data))
        if len(self.data) > MAX_EXTENDED_NC:
            raise ValueError(f"command data too long: {len(self.data)} > {MAX_EXTENDED_NC} bytes")
        if self.ne is not None and not 1 <= self.ne <= MAX_EXTENDED_NE:
            raise ValueError(f"ne must be 1-{MAX_EXTENDED_NE} or None, got {self.ne}")

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))

    @property
    def needs_extended(self) -> bool:
        """True if this command cannot be encoded in short form."""
        return len(self.data) > MAX_SHORT_NC or (self.ne is not None and self.ne > MAX_SHORT_NE)

    def encode(self, extended: bool = False) -> bytes:
        """Encode in short form, or extended form if ``extended``.

        Short form raises ValueError when data > 255 bytes or ne > 256.  The
        extended form of a case-1 command (no data, no Le) is just the header.
        """
        nc = len(self.data)
        if not extended:
            if self.needs_extended:
                raise ValueError("command needs extended length (data > 255 or ne > 256)")
            out = self.header
            if nc:
                out += bytes((nc,)) + self.data
            if self.ne is not None:
                out += bytes((self.ne % 256,))
            return out
        out = self.header
        if nc:
            out += b"\x00" + nc.to_bytes(2, "big") + self.data
        if self.ne is not None:
            le = (self.ne % MAX_EXTENDED_NE).to_bytes(2, "big")
            out += le if nc else b"\x00" + le
        return out

    def __repr__(self) -> str:
        return (
            f"CommandApdu(cla={self.cla:02X}, ins={self.ins:02X}, p1={self.p1:02X}, "
            f"p2={self.p2:02X}, nc={len(self.data)}, ne={self.ne})"
        )


@dataclass(frozen=True)
class ResponseApdu:
    """Response data and status word (after any GET RESPONSE accumulation)."""

    data: bytes = field(repr=False)
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    def __repr__(self) -> str:
        return f"ResponseApdu(len={len(self.data)}, sw={self.sw:04X})"
