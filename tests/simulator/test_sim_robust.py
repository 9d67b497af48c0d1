"""Internal errors map to 6F00 without state change; concurrent use is serialised."""

from __future__ import annotations

import threading

import pytest
from sim_host import Plain, build
from sim_support import personalise

from simulators import applet
from simulators.card import SimulatedCard


def test_internal_error_is_6f00_without_state_change(
    host: Plain, card: SimulatedCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = personalise(host, lock=False)
    before = card._store.state

    def boom(*args: object) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setitem(applet._HANDLERS, 0xD6, boom)
    data, sw = host.raw(ch.wrap(0x00, 0xD6, 0x82, 0x00, b"x"))
    assert (data, sw) == (b"", 0x6F00)
    assert card._store.state == before


def test_concurrent_transmit(card: SimulatedCard) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(200):
                resp = card.transmit(build(0x00, 0x84, 0x00, 0x00, le=8))
                assert len(resp) == 10 and resp[-2:] == b"\x90\x00"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_internal_error_keeps_channel_in_step(
    host: Plain, card: SimulatedCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = personalise(host, lock=False)

    def boom(*args: object) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setitem(applet._HANDLERS, 0x88, boom)
    assert ch.send(0x00, 0x88, 0x00, 0x01, bytes(8)) == (b"", 0x6F00)
    monkeypatch.undo()
    assert ch.send(0x00, 0x88, 0x00, 0x01, bytes(8))[1] == 0x9000
