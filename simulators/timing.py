"""Transmission-time model: how long an APDU exchange takes on a real interface."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TimingModel"]

#: Bits on the wire per byte: 8 data bits plus start/stop (contact, ISO 7816-3) or
#: parity and frame overhead (contactless, ISO 14443-3), rounded to 10.
_BITS_PER_BYTE = 10


@dataclass(frozen=True)
class TimingModel:
    """A fixed processing latency per APDU plus a transfer time proportional to size.

    ``bytes_per_second`` of ``None`` means an infinitely fast link.  The default model
    has no delay at all.
    """

    apdu_latency_s: float = 0.0
    bytes_per_second: float | None = None

    def __post_init__(self) -> None:
        if self.apdu_latency_s < 0:
            raise ValueError("apdu_latency_s must be >= 0")
        if self.bytes_per_second is not None and self.bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be > 0 or None")

    def delay_for(self, command_len: int, response_len: int) -> float:
        """Seconds one exchange of ``command_len`` + ``response_len`` bytes takes."""
        transfer = 0.0
        if self.bytes_per_second is not None:
            transfer = (command_len + response_len) / self.bytes_per_second
        return self.apdu_latency_s + transfer

    @classmethod
    def preset(cls, name: str) -> TimingModel:
        """A named model: ``none``, ``contact`` or ``contactless``."""
        try:
            return _PRESETS[name]
        except KeyError:
            valid = ", ".join(sorted(_PRESETS))
            raise ValueError(f"unknown timing preset {name!r}; valid: {valid}") from None


_PRESETS: dict[str, TimingModel] = {
    "none": TimingModel(),
    # ISO 7816-3 T=1 at 9600 bit/s (the default Fi/Di): 960 bytes/s, plus the card's
    # processing time of a few milliseconds per APDU.
    "contact": TimingModel(apdu_latency_s=0.005, bytes_per_second=9600 / _BITS_PER_BYTE),
    # ISO 14443-4 at 424 kbit/s: 42 400 bytes/s, with a shorter per-APDU latency.
    "contactless": TimingModel(apdu_latency_s=0.002, bytes_per_second=424_000 / _BITS_PER_BYTE),
}
