"""Transport to smart-card readers: one small contract, a PC/SC and a simulator driver.

``get_driver()`` picks the driver by name or from ``$PERMIT_READERS``.  The
PC/SC driver (and with it pyscard) is imported only when asked for.
"""

from __future__ import annotations

import os
from typing import Any

from .base import CardConnection, ReaderDriver, ReaderEvent, ReaderEventKind, ReaderInfo
from .errors import (
    CardRemoved,
    CommunicationError,
    NoCard,
    NoSuchReader,
    ReaderBusy,
    ReaderError,
)

__all__ = [
    "DRIVERS",
    "CardConnection",
    "CardRemoved",
    "CommunicationError",
    "NoCard",
    "NoSuchReader",
    "ReaderBusy",
    "ReaderDriver",
    "ReaderError",
    "ReaderEvent",
    "ReaderEventKind",
    "ReaderInfo",
    "get_driver",
]

DRIVERS = ("pcsc", "sim")
DEFAULT_DRIVER = "pcsc"


def get_driver(name: str | None = None, **options: Any) -> ReaderDriver:
    """Return a new driver: ``name``, else ``$PERMIT_READERS``, else ``"pcsc"``."""
    chosen = (name or os.environ.get("PERMIT_READERS") or DEFAULT_DRIVER).strip().lower()
    if chosen == "pcsc":
        from .pcsc import PcscReaderDriver

        return PcscReaderDriver(**options)
    if chosen == "sim":
        from .sim import SimReaderDriver

        return SimReaderDriver(**options)
    raise ValueError(f"unknown reader driver {chosen!r}; valid names: {', '.join(DRIVERS)}")
