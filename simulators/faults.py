"""Fault injection: cutting the card's power at a chosen point of a chosen APDU."""

from __future__ import annotations

import threading
from enum import StrEnum

__all__ = ["FaultInjector", "TearPhase"]


class TearPhase(StrEnum):
    """Where in the command the power is cut."""

    BEFORE = "before"  # before the first commit: no persistent effect
    MID = "mid"  # right after the first commit (e.g. VERIFY: try consumed, no result)
    AFTER = "after"  # after all commits: only the response is lost


class FaultInjector:
    """One-shot power cut on the ``after_apdus``-th APDU passed to ``transmit`` from now on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._phase = TearPhase.BEFORE

    def cut_power(self, after_apdus: int, phase: str = "before") -> None:
        """Arm a power cut on the ``after_apdus``-th APDU (1-based) with the given phase."""
        if isinstance(after_apdus, bool) or not isinstance(after_apdus, int) or after_apdus < 1:
            raise ValueError("after_apdus must be an integer >= 1")
        try:
            tear_phase = TearPhase(phase)
        except ValueError:
            valid = ", ".join(p.value for p in TearPhase)
            raise ValueError(f"unknown tear phase {phase!r}; valid: {valid}") from None
        with self._lock:
            self._remaining = after_apdus
            self._phase = tear_phase

    def clear(self) -> None:
        """Disarm."""
        with self._lock:
            self._remaining = None

    @property
    def armed(self) -> bool:
        with self._lock:
            return self._remaining is not None

    def next_apdu(self) -> TearPhase | None:
        """Count one APDU; return the phase if the power is to be cut during it (then disarm)."""
        with self._lock:
            if self._remaining is None:
                return None
            self._remaining -= 1
            if self._remaining > 0:
                return None
            self._remaining = None
            return self._phase
