"""THROWAWAY stand-in for simulators.card/errors/timing while they are being written.

Installed by conftest.py only when the real modules cannot be imported.  It
implements just enough of docs/card-application.md for the transport tests.
Delete once the real simulator has landed.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from typing import Any

from card_service.card import wire


class CardPowerLost(Exception):
    pass


class CardNotPowered(Exception):
    pass


class CardImageError(Exception):
    pass


class TimingModel:
    def __init__(self, name: str = "none") -> None:
        self.name = name

    @classmethod
    def preset(cls, name: str) -> TimingModel:
        if name not in ("none", "contact", "contactless"):
            raise ValueError(name)
        return cls(name)


class FaultInjector:
    def __init__(self) -> None:
        self._after: int | None = None
        self.phase = "before"

    def cut_power(self, after_apdus: int, phase: str = "before") -> None:
        self._after, self.phase = after_apdus, phase

    def clear(self) -> None:
        self._after = None

    @property
    def armed(self) -> bool:
        return self._after is not None

    def tick(self) -> bool:
        if self._after is None:
            return False
        self._after -= 1
        if self._after == 0:
            self._after = None
            return True
        return False


class SimulatedCard:
    def __init__(self, serial: bytes, image_path: Any = None) -> None:
        self.serial = serial
        self.life_cycle = wire.LifeCycle.BLANK
        self.atr = wire.atr()
        self.image_path = image_path
        self.powered = False
        self.faults = FaultInjector()
        self.timing = TimingModel()
        self._lock = threading.RLock()
        self._app = False
        self._ef: int | None = None

    @classmethod
    def manufacture(cls, *, master_keys: Any, kvn: int = 1, serial: bytes | None = None,
                    image_path: Any = None, timing: Any = None, durable: bool = True) -> SimulatedCard:
        card = cls(serial or os.urandom(8), image_path)
        if image_path is not None:
            from pathlib import Path
            Path(image_path).write_bytes(b"STUB" + card.serial)
        return card

    @classmethod
    def load(cls, image_path: Any, *, timing: Any = None, durable: bool = True) -> SimulatedCard:
        from pathlib import Path
        raw = Path(image_path).read_bytes()
        return cls(raw[4:12], image_path)

    def power_on(self) -> bytes:
        self.powered = True
        self._app, self._ef = False, None
        return self.atr

    def power_off(self) -> None:
        self.powered = False

    def reset(self) -> bytes:
        return self.power_on()

    def _card_info(self) -> bytes:
        body = b"\x5a\x08" + self.serial + bytes([0x8A, 1, self.life_cycle]) + b"\x80\x02\x01\x00"
        return bytes([0xE0, len(body)]) + body

    def transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            if not self.powered:
                raise CardNotPowered
            if self.faults.tick():
                self.powered = False
                raise CardPowerLost
            return self._process(apdu)

    def _process(self, a: bytes) -> bytes:
        if len(a) < 4:
            return b"\x67\x00"
        ins, p1, p2 = a[1], a[2], a[3]
        data = b""
        if len(a) > 5 and a[4] == 0:
            nc = int.from_bytes(a[5:7], "big")
            data = a[7:7 + nc]
            if len(a) not in (7 + nc, 9 + nc) or nc > wire.MAX_COMMAND_DATA:
                return b"\x67\x00"
        elif len(a) > 5:
            data = a[5:5 + a[4]]
        if ins == 0xA4 and p1 == 4:
            if data != wire.AID:
                return b"\x6a\x82"
            self._app, self._ef = True, None
            inner = b"\x80\x02\x01\x00\x8a\x01" + bytes([self.life_cycle]) + b"\x5a\x08" + self.serial
            fci = b"\x84\x08" + wire.AID + bytes([0xA5, len(inner)]) + inner
            return bytes([0x6F, len(fci)]) + fci + b"\x90\x00"
        if ins == 0xA4:
            fid = int.from_bytes(data, "big")
            if not self._app or fid not in list(wire.FileId):
                return b"\x6a\x82"
            self._ef = fid
            return b"\x90\x00"
        if ins == 0xB0:
            if self._ef is None:
                return b"\x69\x86"
            content = self._card_info() if self._ef == wire.FileId.CARD_INFO else b""
            return content + (b"\x90\x00" if content else b"\x62\x82")
        if ins == 0x84:
            return os.urandom(a[4]) + b"\x90\x00"
        if ins == 0xD6:
            return b"\x69\x82"
        return b"\x6d\x00"


def install() -> None:
    errors = types.ModuleType("simulators.errors")
    errors.CardPowerLost = CardPowerLost  # type: ignore[attr-defined]
    errors.CardNotPowered = CardNotPowered  # type: ignore[attr-defined]
    errors.CardImageError = CardImageError  # type: ignore[attr-defined]
    card = types.ModuleType("simulators.card")
    card.SimulatedCard = SimulatedCard  # type: ignore[attr-defined]
    timing = types.ModuleType("simulators.timing")
    timing.TimingModel = TimingModel  # type: ignore[attr-defined]
    sys.modules.setdefault("simulators.errors", errors)
    sys.modules.setdefault("simulators.card", card)
    sys.modules.setdefault("simulators.timing", timing)
