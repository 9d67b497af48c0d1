"""Exceptions the simulated card raises to its *host process* (not status words).

Status words are what the card says to a reader; these exceptions are what the
simulator says to the Python code driving it (a reader driver, the vpcd bridge,
a test).
"""

from __future__ import annotations

__all__ = ["CardImageError", "CardNotPowered", "CardPowerLost", "SimulatorError"]


class SimulatorError(Exception):
    """Base class of every simulator exception."""


class CardPowerLost(SimulatorError):
    """Power was cut by fault injection during transmit.

    The response is lost; the card is now powered off.
    """


class CardNotPowered(SimulatorError):
    """transmit() while powered off."""


class CardImageError(SimulatorError):
    """Card image file unreadable/corrupt (the message names the file, never key bytes)."""
