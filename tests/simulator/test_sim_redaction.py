"""Simulator state never shows secret or personal bytes in a ``repr`` (security review F4):
reprs end up in tracebacks, debugger output and log lines."""

from __future__ import annotations

import dataclasses

import pytest
from sim_host import Plain, build, pin_block
from sim_support import PIN, personalise

from simulators.apdu import parse_apdu
from simulators.applet import _Outcome
from simulators.card import SimulatedCard
from simulators.context import Command, PendingChain, PendingResponse, Response, Volatile
from simulators.image import CardState
from simulators.scp03 import Handshake, SessionKeys, StaticKeys

SECRET = b"Jane Q. Resident 1990-01-01 " + pin_block("864297")


def _needles(secret: bytes) -> list[str]:
    return [secret.hex(), secret.hex().upper(), secret[:6].hex(), repr(secret)[2:14], "Jane"]


def assert_hidden(obj: object, secret: bytes = SECRET) -> None:
    text = repr(obj)
    for needle in _needles(secret):
        assert needle not in text, f"{type(obj).__name__} repr shows secret bytes: {text}"


@pytest.mark.parametrize(
    "obj",
    [
        PendingChain(0xD6, 0x85, 0x00, True, bytearray(SECRET)),
        PendingResponse(SECRET, 0x9000),
        Command(parse_apdu(build(0x00, 0x20, 0x00, 0x81, SECRET[:8])), SECRET, wrapped=False),
        Response(SECRET),
        _Outcome(SECRET, 0x9000),
        Volatile(pending=PendingResponse(SECRET, 0x9000)),
        Volatile(chain=PendingChain(0xD6, 0x85, 0x00, True, bytearray(SECRET))),
        StaticKeys(SECRET[:16], SECRET[16:32], SECRET[:16]),
        SessionKeys(SECRET[:16], SECRET[16:32], SECRET[:16]),
        Handshake(SessionKeys(SECRET[:16], SECRET[16:32], SECRET[:16]), SECRET[:8], SECRET[8:16]),
    ],
    ids=lambda o: type(o).__name__,
)
def test_reprs_hide_data(obj: object) -> None:
    assert_hidden(obj)
    assert type(obj).__name__ in repr(obj)  # still a useful repr


def test_every_simulator_bytes_field_is_hidden() -> None:
    """Any dataclass field of these types holding bytes is repr=False (serial and kvn excepted)."""
    public = {("CardState", "serial")}
    for cls in (PendingChain, PendingResponse, Command, Response, _Outcome, CardState,
                StaticKeys, SessionKeys, Handshake):  # fmt: skip
        for f in dataclasses.fields(cls):
            if "bytes" in str(f.type) and (cls.__name__, f.name) not in public:
                assert not f.repr, f"{cls.__name__}.{f.name} is shown by repr"


def test_live_card_state_repr_after_personalisation(card: SimulatedCard) -> None:
    """A pending (wrapped) response and the persistent state after personalisation."""
    host = Plain(card)
    ch = personalise(host, lock=False)
    assert ch.update(5, 0, SECRET * 20) == 0x9000  # EF.HolderData, 720 bytes
    data, sw = host.raw(ch.wrap(0x00, 0xB0, 0x85, 0x00, le=256))
    assert sw >> 8 == 0x61 and len(data) == 256  # split: the rest is pending on the card
    volatile = card._applet.volatile
    assert volatile.pending is not None
    assert_hidden(volatile)
    assert_hidden(volatile, volatile.pending.data)
    assert_hidden(card._store.state)
    assert_hidden(card._store.state, pin_block(PIN))
