"""Bridge a :class:`~simulators.card.SimulatedCard` to vsmartcard's vpcd reader driver.

``libifdvpcd.so`` inside pcscd listens on a TCP port and plays the reader; we
play the virtual ICC ("vicc"): connecting the socket inserts the card, closing
it pulls the card.  Protocol: every message is a 2-byte big-endian length and
a body.  A one-byte body is control (00 power off, 01 power on, 02 reset,
04 get ATR, answered by the ATR); anything longer is an APDU, answered by one
message with ``response data || SW``.

Latency: vpcd writes the length and the body with separate ``send`` calls, so
with Nagle's algorithm and delayed ACKs every APDU waits ~40 ms.  We set
``TCP_NODELAY``, send length+body in one ``sendall`` and re-arm ``TCP_QUICKACK``
before every ``recv`` (Linux clears it after each ACK); a round trip through
pcscd then costs well under a millisecond.

APDU bodies are never logged here (they may carry PINs and keys).
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Protocol

from card_service.card.wire import VPCD_DEFAULT_PORT, VpcdControl

from .errors import CardNotPowered, CardPowerLost

__all__ = ["VpcdBridge", "VpcdCard"]

logger = logging.getLogger(__name__)

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
_SW_NO_DIAGNOSIS = b"\x6f\x00"


class VpcdCard(Protocol):
    """The part of SimulatedCard the bridge uses."""

    @property
    def atr(self) -> bytes: ...

    @property
    def powered(self) -> bool: ...

    def power_on(self) -> bytes: ...

    def power_off(self) -> None: ...

    def reset(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes: ...


class _Closed(Exception):
    """The vpcd side closed the connection."""


class VpcdBridge:
    """A thread that keeps ``card`` connected to vpcd at ``host:port`` while inserted.

    ``start()`` begins with the card inserted unless ``inserted=False``.  While vpcd
    is not listening the bridge retries with exponential backoff (up to
    ``max_backoff`` seconds).  A power cut inside the card (fault injection)
    closes the socket: the card looks pulled and stays out until ``insert()``.
    """

    def __init__(
        self,
        card: VpcdCard,
        host: str = "127.0.0.1",
        port: int = VPCD_DEFAULT_PORT,
        *,
        inserted: bool = True,
        max_backoff: float = 1.0,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.max_backoff = max_backoff
        self._want_inserted = inserted
        self._stopping = False
        self._cond = threading.Condition()
        self._sock: socket.socket | None = None
        self._connected = False
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------

    @property
    def inserted(self) -> bool:
        """Whether the card is meant to be in the reader (connected or connecting)."""
        return self._want_inserted

    @property
    def connected(self) -> bool:
        """Whether the socket to vpcd is up (the reader sees a card)."""
        return self._connected

    def start(self) -> VpcdBridge:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"vpcd-bridge-{self.port}", daemon=True
            )
            self._thread.start()
        return self

    def insert(self) -> None:
        with self._cond:
            self._want_inserted = True
            self._cond.notify_all()

    def remove(self) -> None:
        with self._cond:
            self._want_inserted = False
            self._close_socket()
            self._cond.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._want_inserted = False
            self._close_socket()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_connected(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._connected, timeout)

    def wait_disconnected(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._connected, timeout)

    def _close_socket(self) -> None:
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv
            except OSError:
                pass

    # -- thread -------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.02
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._want_inserted)
                if self._stopping:
                    return
            sock = self._connect()
            if sock is None:
                with self._cond:
                    self._cond.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = 0.02
            try:
                self._serve(sock)
            finally:
                with self._cond:
                    self._sock = None
                    self._connected = False
                    self._cond.notify_all()
                sock.close()
                try:
                    self.card.power_off()  # a pulled card loses power
                except Exception:
                    logger.debug("power_off after disconnect failed", exc_info=True)

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=2.0)
        except OSError as exc:
            logger.debug("vpcd at %s:%d not reachable: %s", self.host, self.port, exc)
            return None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._cond:
            if self._stopping or not self._want_inserted:
                sock.close()
                return None
            self._sock = sock
            self._connected = True
            self._cond.notify_all()
        logger.debug("card inserted into vpcd reader at %s:%d", self.host, self.port)
        return sock

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                length = int.from_bytes(self._recv_exact(sock, 2), "big")
                body = self._recv_exact(sock, length) if length else b""
            except (_Closed, OSError):
                return
            try:
                reply = self._handle(body)
            except CardPowerLost:
                logger.info("card lost power on vpcd port %d: removing it", self.port)
                with self._cond:
                    self._want_inserted = False
                return
            except Exception:
                # never die on a bad message or a card bug; the host sees 6F00
                logger.exception("error handling a %d-byte vpcd message", len(body))
                reply = _SW_NO_DIAGNOSIS if len(body) > 1 else None
            if reply is not None:
                try:
                    sock.sendall(len(reply).to_bytes(2, "big") + reply)
                except OSError:
                    return

    @staticmethod
    def _recv_exact(sock: socket.socket, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            if _QUICKACK is not None:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                except OSError:
                    pass
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise _Closed
            buf += chunk
        return bytes(buf)

    def _handle(self, body: bytes) -> bytes | None:
        card = self.card
        if len(body) == 0:
            return None
        if len(body) == 1:
            code = body[0]
            if code == VpcdControl.POWER_OFF:
                card.power_off()
            elif code == VpcdControl.POWER_ON:
                card.power_on()
            elif code == VpcdControl.RESET:
                card.reset() if card.powered else card.power_on()
            elif code == VpcdControl.GET_ATR:
                return bytes(card.atr)
            else:
                logger.warning("unknown vpcd control code 0x%02X ignored", code)
            return None
        if not card.powered:
            card.power_on()
        try:
            return bytes(card.transmit(body))
        except CardNotPowered:
            card.power_on()
            return bytes(card.transmit(body))
