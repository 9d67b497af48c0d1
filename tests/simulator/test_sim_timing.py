"""Timing model arithmetic (no sleeping in tests)."""

from __future__ import annotations

import pytest

from simulators import card as card_module
from simulators.card import SimulatedCard
from simulators.timing import TimingModel


def test_default_has_no_delay() -> None:
    assert TimingModel().delay_for(1000, 1000) == 0.0
    assert TimingModel.preset("none") == TimingModel()


def test_delay_arithmetic() -> None:
    m = TimingModel(apdu_latency_s=0.01, bytes_per_second=1000.0)
    assert m.delay_for(100, 400) == pytest.approx(0.51)
    assert TimingModel(apdu_latency_s=0.25).delay_for(10**6, 0) == 0.25


def test_presets() -> None:
    contact = TimingModel.preset("contact")
    assert contact.bytes_per_second == pytest.approx(960.0)  # 9600 bit/s, 10 bits per byte
    assert 0 < contact.apdu_latency_s < 0.02
    assert contact.delay_for(5, 256 + 2) == pytest.approx(contact.apdu_latency_s + 263 / 960)
    contactless = TimingModel.preset("contactless")
    assert contactless.bytes_per_second == pytest.approx(42400.0)
    assert contactless.delay_for(100, 100) < contact.delay_for(100, 100)


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"contact, contactless, none"):
        TimingModel.preset("warp")


def test_invalid_values() -> None:
    with pytest.raises(ValueError):
        TimingModel(apdu_latency_s=-1)
    with pytest.raises(ValueError):
        TimingModel(bytes_per_second=0)


def test_transmit_sleeps_delay_for(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(card_module.time, "sleep", slept.append)
    c = SimulatedCard.manufacture(master_keys={1: bytes(16)})
    c.power_on()
    c.transmit(bytes.fromhex("0084000008"))
    assert slept == []  # default model: no delay at all, not even sleep(0)
    c.timing = TimingModel(apdu_latency_s=0.5, bytes_per_second=100.0)
    resp = c.transmit(bytes.fromhex("0084000008"))
    assert slept == [pytest.approx(0.5 + (5 + len(resp)) / 100.0)]
    c2 = SimulatedCard.manufacture(master_keys={1: bytes(16)}, timing=TimingModel.preset("contact"))
    assert c2.timing == TimingModel.preset("contact")
