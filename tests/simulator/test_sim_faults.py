"""FaultInjector API and power handling."""

from __future__ import annotations

import pytest

from simulators.card import SimulatedCard
from simulators.errors import CardNotPowered, CardPowerLost, SimulatorError
from simulators.faults import FaultInjector

GET_CHALLENGE = bytes.fromhex("0084000008")


def test_injector_counts_and_is_one_shot() -> None:
    f = FaultInjector()
    assert not f.armed
    f.cut_power(3, "mid")
    assert f.armed
    assert [f.next_apdu() for _ in range(4)] == [None, None, "mid", None]
    assert not f.armed


def test_clear_and_validation() -> None:
    f = FaultInjector()
    f.cut_power(1)
    f.clear()
    assert not f.armed and f.next_apdu() is None
    with pytest.raises(ValueError):
        f.cut_power(0)
    with pytest.raises(ValueError, match="before, mid, after"):
        f.cut_power(1, "during")


def test_power_states(card: SimulatedCard) -> None:
    assert card.powered
    card.faults.cut_power(2)
    card.transmit(GET_CHALLENGE)
    with pytest.raises(CardPowerLost):
        card.transmit(GET_CHALLENGE)
    assert not card.powered and not card.faults.armed
    with pytest.raises(CardNotPowered):
        card.transmit(GET_CHALLENGE)
    assert issubclass(CardNotPowered, SimulatorError)
    assert card.power_on() == card.atr
    assert card.transmit(GET_CHALLENGE)[-2:] == b"\x90\x00"
    card.power_off()
    assert not card.powered
    assert card.reset() == card.atr and card.powered


def test_atr() -> None:
    c = SimulatedCard.manufacture(master_keys={1: bytes(16)})
    assert c.atr == bytes.fromhex("3B8D80018031807390 01C0655045524D0171".replace(" ", ""))
    assert not c.powered
