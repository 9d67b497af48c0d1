"""A simulated card that counts the APDUs it receives and the time it spends on them.

Wraps :class:`simulators.card.SimulatedCard` for the sim reader driver: the crash
enumeration counts the APDUs of a workflow, the issuance benchmark subtracts card time from
host time.
"""

from __future__ import annotations

import time

from .card import SimulatedCard

__all__ = ["MeteredCard"]


class MeteredCard:
    """Forwards to ``card``; ``count`` APDUs and ``seconds`` spent inside ``transmit``."""

    def __init__(self, card: SimulatedCard) -> None:
        self.card = card
        self.count = 0
        self.seconds = 0.0

    @property
    def powered(self) -> bool:
        return self.card.powered

    def power_on(self) -> bytes:
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> bytes:
        return self.card.reset()

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        start = time.perf_counter()
        try:
            return self.card.transmit(apdu)
        finally:
            self.seconds += time.perf_counter() - start
