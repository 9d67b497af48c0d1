"""Transport to smart-card readers: one small contract, a PC/SC and a simulator driver.

``get_driver()`` picks the driver by name or from ``$PERMIT_READERS``.  The
PC/SC driver (and with it pyscard) is imported only when asked for.

The simulator driver is given only to a caller that says it may have it
(``allow_simulator=True``): this layer does not decide the deployment environment, its
callers do (``permit_env``; docs/simulator.md, "Threat model").
"""

from __future__ import annotations

import os
from typing import Any

from permit_errors import ErrorKind, PermitError

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
    "DriverNotAllowed",
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


class DriverNotAllowed(PermitError, ValueError):
    """The chosen driver exists but the caller did not allow it (the simulator)."""

    code = "driver_not_allowed"
    kind = ErrorKind.CONFIG


def get_driver(
    name: str | None = None, *, allow_simulator: bool = False, **options: Any
) -> ReaderDriver:
    """Return a new driver: ``name``, else ``$PERMIT_READERS``, else ``"pcsc"``.

    ``"sim"`` (in-process simulated cards) only with ``allow_simulator=True``, else
    :class:`DriverNotAllowed`; deny by default.
    """
    chosen = (name or os.environ.get("PERMIT_READERS") or DEFAULT_DRIVER).strip().lower()
    if chosen == "pcsc":
        from .pcsc import PcscReaderDriver

        return PcscReaderDriver(**options)
    if chosen == "sim":
        if not allow_simulator:
            raise DriverNotAllowed(
                "the in-process simulator reader driver 'sim' is not allowed here"
            )
        from .sim import SimReaderDriver

        return SimReaderDriver(**options)
    raise ValueError(f"unknown reader driver {chosen!r}; valid names: {', '.join(DRIVERS)}")
