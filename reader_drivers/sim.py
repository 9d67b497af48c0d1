"""In-process reader driver: simulated cards in named slots, no PC/SC involved.

Used by tests and by ``PERMIT_READERS=sim``.  Behaves like a PC/SC reader
where it matters to callers: cards are powered when inserted, a power cut
during a command looks like a pulled card, exclusive connections exclude
others, transactions serialise callers, and a reader without extended-length
support rejects extended APDUs instead of silently passing them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from simulators.errors import CardNotPowered, CardPowerLost

from .apdu_log import log_exchange
from .base import ReaderEvent, ReaderEventKind, ReaderInfo, is_extended_apdu
from .errors import CardRemoved, CommunicationError, NoCard, NoSuchReader, ReaderBusy

__all__ = ["SimReaderDriver", "SimulatedCardLike"]

logger = logging.getLogger(__name__)

#: Largest APDU a short-length-only reader carries: header, Lc, 255 data bytes, Le.
SHORT_APDU_MAX = 261


class SimulatedCardLike(Protocol):
    """What the driver needs of :class:`simulators.card.SimulatedCard`."""

    @property
    def powered(self) -> bool: ...

    def power_on(self) -> bytes: ...

    def power_off(self) -> None: ...

    def reset(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes: ...


class _Slot:
    def __init__(self, name: str) -> None:
        self.name = name
        self.card: SimulatedCardLike | None = None
        self.atr: bytes | None = None
        #: bumped at every insertion; a connection is valid only for its generation
        self.generation = 0
        #: serialises APDUs and transactions on this reader (re-entrant per thread)
        self.lock = threading.RLock()
        self.connections: set[SimCardConnection] = set()
        self.exclusive: SimCardConnection | None = None


class SimReaderDriver:
    """Driver over ``slots`` simulated readers named ``"<prefix> 0"``, ``"<prefix> 1"``, ..."""

    def __init__(
        self,
        slots: int = 2,
        *,
        extended_length: bool = True,
        reader_prefix: str = "Permit Sim Reader",
    ) -> None:
        if slots < 1:
            raise ValueError("a SimReaderDriver needs at least one slot")
        self._extended_length = extended_length
        self._slots = {f"{reader_prefix} {i}": _Slot(f"{reader_prefix} {i}") for i in range(slots)}
        self._cond = threading.Condition()
        self._events: list[ReaderEvent] = []

    @property
    def name(self) -> str:
        return "sim"

    @property
    def extended_length(self) -> bool:
        return self._extended_length

    @property
    def reader_names(self) -> list[str]:
        return list(self._slots)

    # -- card handling (the "hand" that inserts and pulls cards) ----------------

    def _slot(self, reader: str) -> _Slot:
        try:
            return self._slots[reader]
        except KeyError:
            raise NoSuchReader(reader, list(self._slots)) from None

    def _resolve(self, slot: int | str) -> _Slot:
        if isinstance(slot, int):
            names = list(self._slots)
            if not 0 <= slot < len(names):
                raise NoSuchReader(str(slot), names)
            return self._slots[names[slot]]
        return self._slot(slot)

    def insert(self, slot: int | str, card: SimulatedCardLike) -> str:
        """Put ``card`` into a slot (by index or reader name) and power it. Returns the reader."""
        s = self._resolve(slot)
        with s.lock:
            if s.card is not None:
                raise ReaderBusy(s.name)
            atr = card.power_on()
            s.card, s.atr = card, atr
            s.generation += 1
        self._post(ReaderEvent(s.name, ReaderEventKind.CARD_INSERTED, atr))
        return s.name

    def remove(self, slot: int | str) -> SimulatedCardLike | None:
        """Pull the card out of a slot (powering it off). Returns it, or None if empty."""
        s = self._resolve(slot)
        with s.lock:
            card = self._take(s)
        if card is not None:
            try:
                card.power_off()
            except Exception:  # a card that cannot power off is still out of the reader
                logger.debug("power_off failed on removal from %s", s.name, exc_info=True)
        return card

    def card_in(self, slot: int | str) -> SimulatedCardLike | None:
        return self._resolve(slot).card

    def _take(self, s: _Slot) -> SimulatedCardLike | None:
        card = s.card
        if card is None:
            return None
        s.card, s.atr = None, None
        s.exclusive = None
        self._post(ReaderEvent(s.name, ReaderEventKind.CARD_REMOVED))
        return card

    def _post(self, event: ReaderEvent) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    # -- ReaderDriver -------------------------------------------------------------

    def list_readers(self) -> list[ReaderInfo]:
        return [ReaderInfo(s.name, s.card is not None, s.atr) for s in self._slots.values()]

    def connect(self, reader: str, *, exclusive: bool = False) -> SimCardConnection:
        s = self._slot(reader)
        with s.lock:
            if s.card is None or s.atr is None:
                raise NoCard(reader)
            if s.exclusive is not None or (exclusive and s.connections):
                raise ReaderBusy(reader)
            conn = SimCardConnection(self, s, s.generation, s.atr)
            s.connections.add(conn)
            if exclusive:
                s.exclusive = conn
            return conn

    def wait_for_events(self, timeout: float) -> list[ReaderEvent]:
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._cond:
            while not self._events:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            events, self._events = self._events, []
            return events


class SimCardConnection:
    """A connection to the card in one simulated slot."""

    def __init__(self, driver: SimReaderDriver, slot: _Slot, generation: int, atr: bytes) -> None:
        self._driver = driver
        self._slot = slot
        self._generation = generation
        self._atr = atr
        self._closed = False

    @property
    def reader(self) -> str:
        return self._slot.name

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def supports_extended_length(self) -> bool:
        return self._driver.extended_length

    def _card(self) -> SimulatedCardLike:
        """The card this connection was opened on; caller holds the slot lock."""
        if self._closed:
            raise CommunicationError(self.reader, "connection is closed")
        s = self._slot
        if s.card is None or s.generation != self._generation:
            raise CardRemoved(self.reader)
        return s.card

    def _power_lost(self) -> CardRemoved:
        self._driver._take(self._slot)
        return CardRemoved(self.reader, "card lost power during the command")

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if not self._driver.extended_length and (
            len(apdu) > SHORT_APDU_MAX or is_extended_apdu(apdu)
        ):
            raise CommunicationError(
                self.reader, f"reader cannot carry an extended-length APDU ({len(apdu)} bytes)"
            )
        with self._slot.lock:
            card = self._card()
            start = time.perf_counter()
            try:
                response = card.transmit(bytes(apdu))
            except CardPowerLost:
                raise self._power_lost() from None
            except CardNotPowered:
                raise CardRemoved(self.reader, "card is not powered") from None
            elapsed = time.perf_counter() - start
        if len(response) < 2:
            raise CommunicationError(self.reader, f"response of {len(response)} bytes has no SW")
        data, sw = response[:-2], int.from_bytes(response[-2:], "big")
        log_exchange(self.reader, apdu, data, sw, elapsed)
        return data, sw

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._slot.lock:
            self._card()
            yield

    def reset(self) -> bytes:
        with self._slot.lock:
            card = self._card()
            try:
                atr = card.reset()
            except CardPowerLost:
                raise self._power_lost() from None
            self._slot.atr = self._atr = atr
            return atr

    def disconnect(self) -> None:
        s = self._slot
        with s.lock:
            if self._closed:
                return
            self._closed = True
            s.connections.discard(self)
            if s.exclusive is self:
                s.exclusive = None
