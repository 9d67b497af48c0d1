"""A software permit card: docs/card-application.md on a simulated chip.

The card has a power state, an ATR, persistent memory (a :class:`~.image.CardStore`,
optionally backed by an image file), fault injection and a timing model.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from card_service.card import wire
from card_service.card.wire import KEY_LENGTH, SERIAL_LENGTH, LifeCycle

from .applet import PermitApplet
from .errors import CardNotPowered, CardPowerLost
from .faults import FaultInjector, TearPhase
from .image import CardState, CardStore, TornCommit, read_image, write_image
from .scp03 import diversify
from .timing import TimingModel

__all__ = ["SimulatedCard"]

logger = logging.getLogger(__name__)

_KVN_RANGE = range(1, 128)


class SimulatedCard:
    """One simulated card.  Create with :meth:`manufacture` or :meth:`load`."""

    def __init__(
        self,
        state: CardState,
        *,
        image_path: Path | None,
        timing: TimingModel | None,
        durable: bool,
    ) -> None:
        self._lock = threading.RLock()
        self._store = CardStore(state, image_path, durable=durable)
        self._applet = PermitApplet(self._store)
        self._powered = False
        self.faults = FaultInjector()
        self.timing = timing if timing is not None else TimingModel()

    def __repr__(self) -> str:
        return f"SimulatedCard(serial={self.serial.hex()}, life_cycle={self.life_cycle.name})"

    @classmethod
    def manufacture(
        cls,
        *,
        master_keys: Mapping[int, bytes],
        kvn: int = 1,
        serial: bytes | None = None,
        image_path: Path | None = None,
        timing: TimingModel | None = None,
        durable: bool = True,
    ) -> SimulatedCard:
        """A BLANK card with its key set diversified from ``master_keys[kvn]`` and its serial.

        With ``image_path`` the image is written there (``FileExistsError`` if it exists).
        """
        if kvn not in _KVN_RANGE:
            raise ValueError("kvn must be 1-127")
        if kvn not in master_keys:
            raise ValueError(f"no issuer master key for KVN {kvn}")
        if serial is None:
            serial = secrets.token_bytes(SERIAL_LENGTH)
        serial = bytes(serial)
        if len(serial) != SERIAL_LENGTH:
            raise ValueError(f"serial must be {SERIAL_LENGTH} bytes")
        keys = diversify(bytes(master_keys[kvn]), serial, kvn)
        return cls.manufacture_with_keys(
            kvn=kvn,
            serial=serial,
            k_enc=keys.enc,
            k_mac=keys.mac,
            k_dek=keys.dek,
            image_path=image_path,
            timing=timing,
            durable=durable,
        )

    @classmethod
    def manufacture_with_keys(
        cls,
        *,
        kvn: int,
        serial: bytes,
        k_enc: bytes,
        k_mac: bytes,
        k_dek: bytes,
        image_path: Path | None = None,
        timing: TimingModel | None = None,
        durable: bool = True,
    ) -> SimulatedCard:
        """A BLANK card loaded with an already diversified key set.

        This is how a card manufacturer works when the issuer's HSM supplies per-card
        keys and the master key never leaves it (spec 6.1).
        """
        if kvn not in _KVN_RANGE:
            raise ValueError("kvn must be 1-127")
        serial = bytes(serial)
        if len(serial) != SERIAL_LENGTH:
            raise ValueError(f"serial must be {SERIAL_LENGTH} bytes")
        for key in (k_enc, k_mac, k_dek):
            if len(key) != KEY_LENGTH:
                raise ValueError(f"card keys must be {KEY_LENGTH} bytes")
        state = CardState(
            serial=serial, kvn=kvn, k_enc=bytes(k_enc), k_mac=bytes(k_mac), k_dek=bytes(k_dek)
        )
        path = Path(image_path) if image_path is not None else None
        if path is not None:
            write_image(path, state, durable=durable, exclusive=True)
        logger.info("manufactured card %s (KVN %d)", serial.hex(), kvn)
        return cls(state, image_path=path, timing=timing, durable=durable)

    @classmethod
    def load(
        cls, image_path: Path, *, timing: TimingModel | None = None, durable: bool = True
    ) -> SimulatedCard:
        """The card stored in ``image_path`` (:class:`CardImageError` if unusable)."""
        path = Path(image_path)
        return cls(read_image(path), image_path=path, timing=timing, durable=durable)

    # ---- properties ----

    @property
    def serial(self) -> bytes:
        return self._store.state.serial

    @property
    def life_cycle(self) -> LifeCycle:
        return self._store.state.life_cycle

    @property
    def atr(self) -> bytes:
        return wire.atr()

    @property
    def image_path(self) -> Path | None:
        return self._store.path

    @property
    def powered(self) -> bool:
        return self._powered

    # ---- power ----

    def power_on(self) -> bytes:
        """Cold reset: power up, volatile state cleared; returns the ATR."""
        with self._lock:
            self._applet.reset()
            self._powered = True
            return self.atr

    def power_off(self) -> None:
        with self._lock:
            self._powered = False
            self._applet.reset()

    def reset(self) -> bytes:
        """Warm reset: volatile state cleared; returns the ATR."""
        with self._lock:
            self._applet.reset()
            self._powered = True
            return self.atr

    def _lose_power(self) -> None:
        self._powered = False
        self._applet.reset()
        self._store.arm_tear(False)

    # ---- commands ----

    def transmit(self, apdu: bytes) -> bytes:
        """Process one command APDU; returns response data || SW1 SW2.

        Raises :class:`CardNotPowered` when off, :class:`CardPowerLost` when a fault
        injected with :meth:`FaultInjector.cut_power` fires.
        """
        command = bytes(apdu)
        with self._lock:
            if not self._powered:
                raise CardNotPowered("the card is not powered")
            phase = self.faults.next_apdu()
            if phase is TearPhase.BEFORE:
                self._lose_power()
                raise CardPowerLost("power cut before the command's first commit")
            self._store.arm_tear(phase is TearPhase.MID)
            try:
                response = self._applet.process(command)
            except TornCommit:
                self._lose_power()
                raise CardPowerLost("power cut after the command's first commit") from None
            finally:
                self._store.arm_tear(False)
            if phase is not None:  # MID with fewer than two commits behaves like AFTER
                self._lose_power()
                raise CardPowerLost("power cut after the command; the response is lost")
            timing = self.timing
        delay = timing.delay_for(len(command), len(response))
        if delay > 0:
            time.sleep(delay)
        return response
