"""The transport contract every reader driver implements.

Layer 1 is deliberately dumb: bytes in, ``(data, SW)`` out.  It does not
interpret status words, does not send GET RESPONSE and does not chain; all of
that belongs to ``card_service.card.protocol``.  What it does guarantee:

* ``transaction()`` gives exclusive, re-entrant access to the card for a
  multi-APDU sequence: APDUs of two callers on one reader never interleave
  (in-process by a per-reader lock, across processes by the reader service's
  own transaction mechanism, e.g. ``SCardBeginTransaction``).
* a single ``transmit()`` outside a transaction is atomic too.
* failures are :mod:`reader_drivers.errors` exceptions.
"""

from __future__ import annotations

import enum
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["CardConnection", "ReaderDriver", "ReaderEvent", "ReaderEventKind", "ReaderInfo"]


@dataclass(frozen=True)
class ReaderInfo:
    """A reader as seen right now."""

    name: str
    card_present: bool
    atr: bytes | None


class ReaderEventKind(enum.Enum):
    CARD_INSERTED = "card_inserted"
    CARD_REMOVED = "card_removed"
    READER_ADDED = "reader_added"
    READER_REMOVED = "reader_removed"


@dataclass(frozen=True)
class ReaderEvent:
    """Something that happened to a reader; ``atr`` is set for CARD_INSERTED."""

    reader: str
    kind: ReaderEventKind
    atr: bytes | None = None


@runtime_checkable
class CardConnection(Protocol):
    """An open connection to the card in one reader."""

    @property
    def reader(self) -> str: ...

    @property
    def atr(self) -> bytes: ...

    @property
    def supports_extended_length(self) -> bool:
        """Whether the reader can carry extended-length APDUs (ISO/IEC 7816-4 5.1)."""
        ...

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one command APDU; return (response data, SW as int). No 61xx handling."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Exclusive, re-entrant access to the card for a multi-APDU sequence."""
        ...

    def reset(self) -> bytes:
        """Warm-reset the card; return its ATR. Volatile card state is lost."""
        ...

    def disconnect(self) -> None:
        """Release the connection (leaving the card powered). Idempotent."""
        ...


@runtime_checkable
class ReaderDriver(Protocol):
    """A source of readers: PC/SC, or the in-process simulator."""

    @property
    def name(self) -> str: ...

    def list_readers(self) -> list[ReaderInfo]: ...

    def connect(self, reader: str, *, exclusive: bool = False) -> CardConnection:
        """Connect to the card in ``reader``.

        Raises NoSuchReader, NoCard, ReaderBusy (exclusive access held elsewhere,
        or ``exclusive=True`` while others are connected).
        """
        ...

    def wait_for_events(self, timeout: float) -> list[ReaderEvent]:
        """Block up to ``timeout`` seconds; return the events since the previous call.

        The first call reports changes relative to the state when the driver was
        created.  An empty list means nothing happened before the timeout.
        """
        ...


def is_extended_apdu(apdu: bytes) -> bool:
    """True if ``apdu`` uses the extended length encoding (``00`` after the header)."""
    return len(apdu) >= 7 and apdu[4] == 0
