"""Host-side fixtures: a scripted fake connection and a "no transport" path to the simulator."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from card_service.card import wire


class ScriptedConnection:
    """A CardConnection whose card is a script: expected APDU bytes -> (data, SW).

    ``script`` is a list of (expected command hex, response data hex, SW); every
    transmit must match the next entry exactly.  ``sent`` records what was sent.
    """

    def __init__(
        self,
        script: list[tuple[str, str, int]] | None = None,
        *,
        extended: bool = True,
        atr: bytes | None = None,
        responder: Callable[[bytes], tuple[bytes, int]] | None = None,
    ) -> None:
        self.reader = "Scripted Reader 0"
        self.atr = wire.atr() if atr is None else atr
        self.supports_extended_length = extended
        self.script = list(script or [])
        self.responder = responder
        self.sent: list[bytes] = []
        self.depth = 0
        self.max_depth = 0
        self._lock = threading.RLock()

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(apdu)
        if self.responder is not None:
            return self.responder(apdu)
        assert self.script, f"unexpected APDU {apdu.hex().upper()}"
        expected, data, sw = self.script.pop(0)
        assert apdu.hex().upper() == expected.replace(" ", "").upper(), (
            f"sent {apdu.hex().upper()}, expected {expected}"
        )
        return bytes.fromhex(data.replace(" ", "")), sw

    def transaction(self) -> AbstractContextManager[None]:
        conn = self

        class _Tx:
            def __enter__(self) -> None:
                conn._lock.acquire()
                conn.depth += 1
                conn.max_depth = max(conn.max_depth, conn.depth)

            def __exit__(self, *exc: object) -> None:
                conn.depth -= 1
                conn._lock.release()

        return _Tx()

    def reset(self) -> bytes:
        return self.atr

    def disconnect(self) -> None:
        pass

    def assert_done(self) -> None:
        assert not self.script, f"{len(self.script)} scripted APDUs not sent"


class DirectConnection:
    """A CardConnection straight onto a SimulatedCard: no reader driver in between."""

    def __init__(self, card: Any, *, extended: bool = True) -> None:
        self.card = card
        self.reader = "Direct"
        self.atr = card.power_on() if not card.powered else card.atr
        self.supports_extended_length = extended
        self.sent: list[bytes] = []
        self._lock = threading.RLock()

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if not self.supports_extended_length:
            assert not (len(apdu) >= 7 and apdu[4] == 0), "extended APDU on a short-only reader"
        self.sent.append(apdu)
        raw = self.card.transmit(apdu)
        return raw[:-2], int.from_bytes(raw[-2:], "big")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            yield

    def reset(self) -> bytes:
        return bytes(self.card.reset())

    def disconnect(self) -> None:
        pass


@dataclass
class DirectCard:
    card: Any
    master_key: bytes
    kvn: int
    connections: list[DirectConnection] = field(default_factory=list)

    def connect(self, *, extended: bool = True) -> DirectConnection:
        conn = DirectConnection(self.card, extended=extended)
        self.connections.append(conn)
        return conn


@pytest.fixture
def direct_card() -> Iterator[DirectCard]:
    from simulators.card import SimulatedCard

    master_key = os.urandom(16)
    card = SimulatedCard.manufacture(master_keys={1: master_key}, kvn=1, durable=False)
    card.power_on()
    yield DirectCard(card, master_key, 1)
