"""Anti-tearing (section 9): power cuts before, in the middle of and after every
state-changing command; the state on disk and in memory always agree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sim_host import Channel, Plain, build, pin_block
from sim_support import MASTER_KEY, PIN, PUK, RECORD, channel, finish, personalise, to_personalising

from simulators.card import SimulatedCard
from simulators.errors import CardPowerLost
from simulators.image import CardState

PHASES = ("before", "mid", "after")


def tear(card: SimulatedCard, apdu: bytes, phase: str) -> CardState:
    """Send ``apdu`` with a power cut; return the persistent state afterwards (checked on disk)."""
    card.faults.cut_power(1, phase)
    with pytest.raises(CardPowerLost):
        card.transmit(apdu)
    assert not card.powered
    state = card._store.state
    assert card.image_path is not None
    assert SimulatedCard.load(card.image_path)._store.state == state
    card.power_on()
    return state


def setup(card: SimulatedCard, lock: bool = False) -> tuple[Plain, Channel]:
    h = Plain(card)
    ch = personalise(h, lock=lock)
    if lock:
        h.select()
        ch = channel(h)
    return h, ch


@pytest.mark.parametrize("phase", PHASES)
def test_update_binary(image_card: SimulatedCard, phase: str) -> None:
    _, ch = setup(image_card)
    old = image_card._store.state
    state = tear(image_card, ch.wrap(0x00, 0xD6, 0x82, 0x00, b"NEW!"), phase)
    expected = old if phase == "before" else old.with_file(0x0102, b"NEW!" + RECORD[4:])  # type: ignore[arg-type]
    assert state == expected


@pytest.mark.parametrize("phase", PHASES)
def test_update_binary_32k(image_card: SimulatedCard, phase: str) -> None:
    _, ch = setup(image_card)
    big = bytes([0xA5]) * 32768
    state = tear(image_card, ch.wrap(0x00, 0xD6, 0x82, 0x00, big, extended=True), phase)
    assert state.file(0x0102) == (RECORD if phase == "before" else big)  # type: ignore[arg-type]


CHUNKS = [bytes([i]) * 100 for i in range(4)]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("at", range(len(CHUNKS)))
def test_chained_update(image_card: SimulatedCard, phase: str, at: int) -> None:
    h, ch = setup(image_card)
    for i, chunk in enumerate(CHUNKS):
        cla = 0x00 if i == len(CHUNKS) - 1 else 0x10
        apdu = ch.wrap(cla, 0xD6, 0x83, 0x00, chunk)
        if i < at:
            assert ch.unwrap(*h.raw(apdu)) == b""
            continue
        state = tear(image_card, apdu, phase)
        applied = at == len(CHUNKS) - 1 and phase != "before"
        assert state.file(0x0103) == (b"".join(CHUNKS) if applied else b"")  # type: ignore[arg-type]
        break
    # after power-up the chain is gone: nothing further is applied
    h.select()
    ch = channel(h)
    assert ch.send(0x00, 0xD6, 0x83, 0x00, b"fresh")[1] == 0x9000


@pytest.mark.parametrize("phase", PHASES)
def test_generate(image_card: SimulatedCard, phase: str) -> None:
    h = Plain(image_card)
    ch = to_personalising(h)
    state = tear(image_card, ch.wrap(0x00, 0x47, 0x00, 0x01), phase)
    if phase == "before":
        assert state.card_key is None and state.file(0x0104) == b""  # type: ignore[arg-type]
    else:
        assert state.card_key is not None
        key = ec.derive_private_key(int.from_bytes(state.card_key, "big"), ec.SECP256R1())
        point = key.public_key().public_numbers()
        do = state.file(0x0104)  # type: ignore[arg-type]
        assert do[6:38] == point.x.to_bytes(32, "big") and do[38:] == point.y.to_bytes(32, "big")


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize(
    ("start_locked", "target"), [(False, 0x01), (False, 0x05), (False, 0x0C), (True, 0x0C)]
)
def test_set_status(image_card: SimulatedCard, phase: str, start_locked: bool, target: int) -> None:
    _, ch = setup(image_card, lock=start_locked)
    old = image_card._store.state
    state = tear(image_card, ch.wrap(0x80, 0xF0, 0x00, target), phase)
    if phase == "before":
        assert state == old
    elif target == 0x05:
        assert state == replace(old, life_cycle=0x05)  # type: ignore[arg-type]
    else:
        assert state == old.erased(target)  # type: ignore[arg-type]


@pytest.mark.parametrize("phase", PHASES)
def test_blank_to_personalising(image_card: SimulatedCard, phase: str) -> None:
    h = Plain(image_card)
    h.select()
    ch = channel(h)
    state = tear(image_card, ch.wrap(0x80, 0xF0, 0x00, 0x03), phase)
    assert int(state.life_cycle) == (0x01 if phase == "before" else 0x03)


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("p2", [0x81, 0x82])
def test_set_pin_puk(image_card: SimulatedCard, phase: str, p2: int) -> None:
    h = Plain(image_card)
    ch = to_personalising(h)
    block = pin_block("13572468")
    state = tear(image_card, ch.wrap(0x00, 0x24, 0x01, p2, block), phase)
    value = state.pin if p2 == 0x81 else state.puk
    assert value == (None if phase == "before" else block)


def issued_card(card: SimulatedCard) -> Plain:
    h = Plain(card)
    personalise(h)
    h.select()
    return h


@pytest.mark.parametrize(("phase", "tries"), [("before", 3), ("mid", 2), ("after", 3)])
def test_verify_correct_pin(image_card: SimulatedCard, phase: str, tries: int) -> None:
    """Decrement before compare: a cut after the first commit leaves the try consumed."""
    h = issued_card(image_card)
    state = tear(image_card, build(0x00, 0x20, 0x00, 0x81, pin_block(PIN)), phase)
    assert state.pin_tries == tries
    h.select()
    assert h.send(0x00, 0x20, 0x00, 0x81)[1] == 0x63C0 | tries  # and the PIN status is not set


@pytest.mark.parametrize(("phase", "tries"), [("before", 3), ("mid", 2), ("after", 2)])
def test_verify_wrong_pin(image_card: SimulatedCard, phase: str, tries: int) -> None:
    issued_card(image_card)
    state = tear(image_card, build(0x00, 0x20, 0x00, 0x81, pin_block("000000")), phase)
    assert state.pin_tries == tries


def test_no_free_guess_by_tearing(image_card: SimulatedCard) -> None:
    """Cutting power on every guess still exhausts the PIN."""
    h = issued_card(image_card)
    for _ in range(3):
        tear(image_card, build(0x00, 0x20, 0x00, 0x81, pin_block(PIN)), "mid")
    h.select()
    assert h.send(0x00, 0x20, 0x00, 0x81, pin_block(PIN))[1] == 0x6983


@pytest.mark.parametrize("phase", PHASES)
def test_change_pin(image_card: SimulatedCard, phase: str) -> None:
    issued_card(image_card)
    new = pin_block("999999")
    state = tear(image_card, build(0x00, 0x24, 0x00, 0x81, pin_block(PIN) + new), phase)
    expected = {"before": (pin_block(PIN), 3), "mid": (pin_block(PIN), 2), "after": (new, 3)}
    assert (state.pin, state.pin_tries) == expected[phase]


@pytest.mark.parametrize("phase", PHASES)
def test_reset_retry_counter(image_card: SimulatedCard, phase: str) -> None:
    h = issued_card(image_card)
    for _ in range(3):
        h.send(0x00, 0x20, 0x00, 0x81, pin_block("000000"))
    new = pin_block("999999")
    state = tear(image_card, build(0x00, 0x2C, 0x00, 0x81, pin_block(PUK) + new), phase)
    expected = {
        "before": (pin_block(PIN), 0, 10),
        "mid": (pin_block(PIN), 0, 9),
        "after": (new, 3, 10),
    }
    assert (state.pin, state.pin_tries, state.puk_tries) == expected[phase]


@pytest.mark.parametrize("phase", PHASES)
def test_read_only_command(image_card: SimulatedCard, phase: str) -> None:
    issued_card(image_card)
    old = image_card._store.state
    assert tear(image_card, build(0x00, 0xB0, 0x82, 0x00, le=256), phase) == old


def test_torn_personalisation_recovers(image_card: SimulatedCard) -> None:
    """Section 9: a card torn while being personalised stays PERSONALISING and can be wiped."""
    h = Plain(image_card)
    ch = to_personalising(h)
    assert ch.update(2, 0, b"half") == 0x9000
    tear(image_card, ch.wrap(0x00, 0xD6, 0x82, 0x04, b"written"), "mid")
    card = SimulatedCard.load(image_card.image_path)  # type: ignore[arg-type]
    assert int(card.life_cycle) == 0x03
    card.power_on()
    h = Plain(card)
    h.select()
    ch = channel(h)
    assert ch.set_status(0x01) == 0x9000
    assert ch.set_status(0x03) == 0x9000
    finish(ch)
    assert int(card.life_cycle) == 0x05


def test_commit_failure_gives_6581(
    image_card: SimulatedCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simulators import image

    _, ch = setup(image_card)
    old = image_card._store.state

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image, "write_image", broken)
    assert ch.send(0x00, 0xD6, 0x82, 0x00, b"x")[1] == 0x6581
    assert image_card._store.state == old
    monkeypatch.undo()
    assert ch.send(0x00, 0xD6, 0x82, 0x00, b"x")[1] == 0x9000  # channel still in sync


def test_no_temp_files_left(image_card: SimulatedCard) -> None:
    _, ch = setup(image_card)
    tear(image_card, ch.wrap(0x00, 0xD6, 0x82, 0x00, b"x"), "mid")
    assert image_card.image_path is not None
    assert [p.name for p in image_card.image_path.parent.iterdir()] == ["card.card"]


def test_in_memory_card_tears_too() -> None:
    card = SimulatedCard.manufacture(master_keys={1: MASTER_KEY})
    card.power_on()
    h = Plain(card)
    personalise(h)
    h.select()
    card.faults.cut_power(1, "mid")
    with pytest.raises(CardPowerLost):
        card.transmit(build(0x00, 0x20, 0x00, 0x81, pin_block(PIN)))
    assert card._store.state.pin_tries == 2


Scenario = Callable[[SimulatedCard], None]
