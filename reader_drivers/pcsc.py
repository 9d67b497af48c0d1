"""PC/SC reader driver on pyscard's low-level ``smartcard.scard`` API.

This is the only module of the project that imports pyscard.

Concurrency: pcsc-lite serialises all calls on one context with a mutex that
stays held while a call blocks (``SCardGetStatusChange`` waiting for events,
``SCardConnect`` waiting for another handle's transaction).  So the driver uses
one context for listing readers, a second one only for
:meth:`PcscReaderDriver.wait_for_events`, and one per connection.
In-process callers are serialised by a per-reader re-entrant lock taken
*before* ``SCardBeginTransaction``, so two threads never both block inside
pcsc-lite on the same reader; other processes are kept out by the PC/SC
transaction itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from smartcard import scard

from .apdu_log import log_exchange
from .base import ReaderEvent, ReaderEventKind, ReaderInfo
from .errors import (
    CardRemoved,
    CommunicationError,
    NoCard,
    NoSuchReader,
    ReaderBusy,
    ReaderError,
)

__all__ = ["PcscCardConnection", "PcscReaderDriver"]

logger = logging.getLogger(__name__)

_PNP = "\\\\?PnP?\\Notification"

#: how long a failed command waits for pcscd to notice a pulled card (seconds)
_REMOVAL_GRACE = 1.5

_REMOVED = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
}


def _message(rv: int) -> str:
    try:
        text = str(scard.SCardGetErrorMessage(rv)).strip()
    except Exception:  # pragma: no cover - pyscard always has it
        text = ""
    return f"{text} (0x{rv & 0xFFFFFFFF:08X})"


def _error(rv: int, reader: str, available: list[str] | None = None) -> ReaderError:
    """Map a PC/SC return code to the transport error hierarchy."""
    if rv in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
        return NoSuchReader(reader, available or [])
    if rv == scard.SCARD_E_NO_READERS_AVAILABLE:
        return NoSuchReader(reader, [])
    if rv == scard.SCARD_E_SHARING_VIOLATION:
        return ReaderBusy(reader)
    if rv == scard.SCARD_W_RESET_CARD:
        return CardRemoved(reader, "card was reset by another application")
    if rv in _REMOVED:
        return CardRemoved(reader, _message(rv))
    if rv in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED):
        return CommunicationError(reader, f"PC/SC service (pcscd) not available: {_message(rv)}")
    return CommunicationError(reader, _message(rv))


def _establish(reader: str = "") -> Any:
    rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rv != scard.SCARD_S_SUCCESS:
        raise _error(rv, reader)
    return ctx


class PcscReaderDriver:
    """Readers of the local PC/SC service (pcscd)."""

    def __init__(self, *, extended_length: bool = True) -> None:
        self._extended_length = extended_length
        self._ctx = _establish()
        self._ctx_lock = threading.Lock()
        self._event_ctx: Any = None
        self._reader_locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()
        # baseline for wait_for_events: reader -> (card present, ATR)
        self._known: dict[str, tuple[bool, bytes | None]] = {
            r.name: (r.card_present, r.atr) for r in self.list_readers()
        }

    @property
    def name(self) -> str:
        return "pcsc"

    @property
    def extended_length(self) -> bool:
        return self._extended_length

    def reader_lock(self, reader: str) -> threading.RLock:
        with self._locks_lock:
            lock = self._reader_locks.get(reader)
            if lock is None:
                lock = self._reader_locks[reader] = threading.RLock()
            return lock

    def _names(self) -> list[str]:
        with self._ctx_lock:
            rv, readers = scard.SCardListReaders(self._ctx, [])
        if rv in (scard.SCARD_E_NO_READERS_AVAILABLE,):
            return []
        if rv != scard.SCARD_S_SUCCESS:
            raise _error(rv, "")
        return [str(r) for r in readers]

    def _status(self, ctx: Any, names: list[str], timeout_ms: int) -> list[tuple[str, int, bytes]]:
        states = [(n, scard.SCARD_STATE_UNAWARE) for n in names]
        rv, new = scard.SCardGetStatusChange(ctx, timeout_ms, states)
        if rv == scard.SCARD_E_UNKNOWN_READER:  # a reader vanished between list and status
            return []
        if rv not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
            raise _error(rv, "")
        return [(str(n), int(ev), bytes(atr)) for n, ev, atr in new]

    def list_readers(self) -> list[ReaderInfo]:
        names = self._names()
        if not names:
            return []
        with self._ctx_lock:
            states = self._status(self._ctx, names, 0)
        out = []
        for name, ev, atr in states:
            present = bool(ev & scard.SCARD_STATE_PRESENT) and not (ev & scard.SCARD_STATE_MUTE)
            out.append(ReaderInfo(name, present, atr if present and atr else None))
        return out

    def connect(self, reader: str, *, exclusive: bool = False) -> PcscCardConnection:
        share = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
        protocols = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        # Each connection gets its own context: pcsc-lite serialises calls per context,
        # and pcscd makes SCardConnect wait while another handle holds a transaction, so
        # a shared context would deadlock a connect against the transaction owner's
        # transmits.  The reader lock keeps in-process connects out of that wait entirely.
        with self.reader_lock(reader):
            ctx = _establish(reader)
            rv, hcard, proto = scard.SCardConnect(ctx, reader, share, protocols)
            if rv != scard.SCARD_S_SUCCESS:
                scard.SCardReleaseContext(ctx)
                if rv in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
                    raise NoSuchReader(reader, self._names())
                if rv in (scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD):
                    raise NoCard(reader)
                raise _error(rv, reader)
            return PcscCardConnection(self, reader, ctx, hcard, int(proto))

    def wait_for_events(self, timeout: float) -> list[ReaderEvent]:
        if self._event_ctx is None:
            self._event_ctx = _establish()
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            events = self._diff()
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                return events
            states = [(_PNP, scard.SCARD_STATE_UNAWARE | (len(self._known) << 16))]
            for name, (present, _) in self._known.items():
                cur = scard.SCARD_STATE_PRESENT if present else scard.SCARD_STATE_EMPTY
                states.append((name, cur))
            rv, _ = scard.SCardGetStatusChange(self._event_ctx, int(remaining * 1000), states)
            if rv == scard.SCARD_E_TIMEOUT:
                return self._diff()
            if rv not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_UNKNOWN_READER):
                raise _error(rv, "")

    def _diff(self) -> list[ReaderEvent]:
        now = {r.name: (r.card_present, r.atr) for r in self.list_readers()}
        events: list[ReaderEvent] = []
        for name in now.keys() - self._known.keys():
            events.append(ReaderEvent(name, ReaderEventKind.READER_ADDED))
        for name, (present, atr) in now.items():
            was = self._known.get(name, (False, None))[0]
            if present and not was:
                events.append(ReaderEvent(name, ReaderEventKind.CARD_INSERTED, atr))
            elif was and not present:
                events.append(ReaderEvent(name, ReaderEventKind.CARD_REMOVED))
        for name in self._known.keys() - now.keys():
            if self._known[name][0]:
                events.append(ReaderEvent(name, ReaderEventKind.CARD_REMOVED))
            events.append(ReaderEvent(name, ReaderEventKind.READER_REMOVED))
        self._known = now
        return events

    def close(self) -> None:
        for ctx in (self._ctx, self._event_ctx):
            if ctx is not None:
                scard.SCardReleaseContext(ctx)
        self._ctx = self._event_ctx = None


class PcscCardConnection:
    """A PC/SC card handle, with in-process and cross-process transactions."""

    def __init__(
        self, driver: PcscReaderDriver, reader: str, ctx: Any, hcard: Any, protocol: int
    ) -> None:
        self._driver = driver
        self._reader = reader
        self._ctx = ctx
        self._hcard = hcard
        self._protocol = protocol
        self._lock = driver.reader_lock(reader)
        self._depth = 0
        self._atr = self._read_atr()

    def _read_atr(self) -> bytes:
        rv, _name, _state, _proto, atr = scard.SCardStatus(self._hcard)
        if rv != scard.SCARD_S_SUCCESS:
            raise _error(rv, self._reader)
        return bytes(atr)

    @property
    def reader(self) -> str:
        return self._reader

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def supports_extended_length(self) -> bool:
        return self._driver.extended_length

    def _check(self) -> Any:
        if self._hcard is None:
            raise CommunicationError(self._reader, "connection is closed")
        return self._hcard

    def _card_gone(self, within: float = _REMOVAL_GRACE) -> bool:
        """Whether the reader reports no card (pcscd polls the reader, so allow it a moment)."""
        deadline = time.monotonic() + within
        while True:
            present = {r.name: r.card_present for r in self._driver.list_readers()}
            if not present.get(self._reader, False):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _failure(self, rv: int | None, detail: str = "") -> ReaderError:
        """Classify a transmit failure.

        A card pulled during a command reaches us as a generic I/O error (or, from
        vpcd, as an empty response) before pcscd's presence poll notices; if the
        card is gone shortly after, it is CardRemoved.
        """
        err = (
            _error(rv, self._reader) if rv is not None else CommunicationError(self._reader, detail)
        )
        if isinstance(err, CommunicationError) and self._card_gone():
            return CardRemoved(self._reader, detail or _message(rv or 0))
        return err

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        pci = (
            scard.SCARD_PCI_T1 if self._protocol == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0
        )
        with self._lock:
            hcard = self._check()
            start = time.perf_counter()
            rv, response = scard.SCardTransmit(hcard, pci, list(apdu))
            elapsed = time.perf_counter() - start
            if rv != scard.SCARD_S_SUCCESS:
                raise self._failure(rv)
            if len(response) < 2:
                raise self._failure(None, f"response of {len(response)} bytes has no SW")
        raw = bytes(response)
        data, sw = raw[:-2], int.from_bytes(raw[-2:], "big")
        log_exchange(self._reader, apdu, data, sw, elapsed)
        return data, sw

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            hcard = self._check()
            if self._depth == 0:
                rv = scard.SCardBeginTransaction(hcard)
                if rv != scard.SCARD_S_SUCCESS:
                    raise self._failure(rv)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._hcard is not None:
                    rv = scard.SCardEndTransaction(self._hcard, scard.SCARD_LEAVE_CARD)
                    if rv != scard.SCARD_S_SUCCESS:
                        logger.debug("SCardEndTransaction on %s: %s", self._reader, _message(rv))

    def reset(self) -> bytes:
        with self._lock:
            hcard = self._check()
            protocols = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
            rv, proto = scard.SCardReconnect(
                hcard, scard.SCARD_SHARE_SHARED, protocols, scard.SCARD_RESET_CARD
            )
            if rv != scard.SCARD_S_SUCCESS:
                raise self._failure(rv)
            self._protocol = int(proto)
            self._atr = self._read_atr()
            return self._atr

    def disconnect(self) -> None:
        with self._lock:
            if self._hcard is None:
                return
            hcard, self._hcard = self._hcard, None
            rv = scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
            if rv != scard.SCARD_S_SUCCESS:
                logger.debug("SCardDisconnect on %s: %s", self._reader, _message(rv))
            scard.SCardReleaseContext(self._ctx)
