"""The issuer authentication counter (docs/card-application.md 6.8, application 1.1).

Every EXTERNAL AUTHENTICATE that reaches the cryptogram check consumes one of 10 tries in a
transaction of its own, before anything is compared; only an opened channel gives the
allowance back.  At 0 the issuer channel is blocked for good (INITIALIZE UPDATE 6983), while
reading, card authentication and the PIN keep working.  These tests fail on the 1.0 card,
which answered 6300 and counted nothing.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from sim_host import Plain, build, init_update, open_channel, pin_block
from sim_support import MASTER_KEY, PIN, PUK, RECORD, channel, personalise

from card_service.card.wire import LifeCycle
from simulators import applet
from simulators.card import SimulatedCard
from simulators.errors import CardImageError, CardPowerLost
from simulators.fleet import SimFleet
from simulators.image import CardState, read_image

MAX = 10
V1_IMAGE = Path(__file__).parent / "data" / "v1-issued.card"  # written by the 1.0 simulator


def tries(card: SimulatedCard) -> int:
    """The counter as EF.CardInfo reports it (tag 83, the last object), checked against the
    persistent state."""
    h = Plain(card)
    h.select()
    data, sw = h.read(1)
    assert sw == 0x9000 and data[-3:-1] == b"\x83\x01"
    assert data[-1] == card._store.state.issuer_auth_tries
    return data[-1]


def fail_once(h: Plain) -> int:
    """One EXTERNAL AUTHENTICATE with a wrong host cryptogram; its SW."""
    ch, sw = open_channel(h, MASTER_KEY, corrupt_cryptogram=True)
    assert ch is None
    return sw


def block(h: Plain) -> None:
    for _ in range(tries(h.card)):
        fail_once(h)
    assert tries(h.card) == 0


def test_counts_down_then_blocks(host: Plain) -> None:
    host.select()
    assert tries(host.card) == MAX
    sws = [fail_once(host) for _ in range(MAX)]
    assert sws == [0x63C0 | n for n in range(MAX - 1, -1, -1)]  # 63C9 ... 63C0
    assert tries(host.card) == 0
    # blocked: no handshake at all, and so no EXTERNAL AUTHENTICATE either
    data, sw, _ = init_update(host)
    assert (data, sw) == (b"", 0x6983)
    assert host.raw(bytes.fromhex("8482330010") + bytes(16)) == (b"", 0x6985)
    with pytest.raises(AssertionError, match="6983"):
        channel(host)  # the right keys cannot open it either


def test_success_restores_the_allowance(host: Plain) -> None:
    host.select()
    assert [fail_once(host) for _ in range(3)] == [0x63C9, 0x63C8, 0x63C7]
    ch = channel(host)
    assert tries(host.card) == MAX
    del ch
    assert fail_once(host) == 0x63C9  # counting starts again from the full allowance


def test_last_try_with_the_right_keys_opens_and_restores(host: Plain) -> None:
    host.select()
    for _ in range(MAX - 1):
        fail_once(host)
    assert tries(host.card) == 1
    ch = channel(host)
    assert ch.set_status(0x03) == 0x9000
    assert tries(host.card) == MAX


def test_initialize_update_alone_costs_nothing(host: Plain) -> None:
    """INITIALIZE UPDATE needs no secret; counting it would let any reader block the card."""
    host.select()
    for _ in range(3 * MAX):
        assert init_update(host)[1] == 0x9000
    for _ in range(MAX):  # abandoned by another command
        init_update(host)
        assert host.send(0x00, 0x84, 0x00, 0x00, le=8)[1] == 0x9000
    assert tries(host.card) == MAX


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("8482320010" + "00" * 16, 0x6A86),  # security level other than 33
        ("8482330110" + "00" * 16, 0x6A86),  # P2
        ("8482330008" + "00" * 8, 0x6700),  # Nc != 16
    ],
)
def test_refused_before_the_check_costs_nothing(host: Plain, apdu: str, sw: int) -> None:
    host.select()
    for _ in range(MAX + 2):
        assert init_update(host)[1] == 0x9000
        assert host.raw(bytes.fromhex(apdu)) == (b"", sw)
    assert host.raw(bytes.fromhex("8482330010") + bytes(16)) == (b"", 0x6985)  # no handshake
    assert tries(host.card) == MAX


def test_wrong_mac_costs_a_try(host: Plain) -> None:
    host.select()
    assert open_channel(host, MASTER_KEY, corrupt_mac=True) == (None, 0x6982)
    assert tries(host.card) == MAX - 1


def test_blocked_persists_across_power_cycles_and_reload(image_card: SimulatedCard) -> None:
    h = Plain(image_card)
    h.select()
    block(h)
    for _ in range(3):
        image_card.power_off()
        image_card.power_on()
        h.select()
        assert init_update(h)[1] == 0x6983
    image_card.reset()
    assert init_update(h)[1] == 0x6983
    # the card taken out and put back: a new chip object from the image file
    assert image_card.image_path is not None
    assert read_image(image_card.image_path).issuer_auth_tries == 0
    again = SimulatedCard.load(image_card.image_path)
    again.power_on()
    h2 = Plain(again)
    h2.select()
    assert init_update(h2)[1] == 0x6983
    assert tries(again) == 0


def test_wipe_and_terminate_keep_the_counter(host: Plain) -> None:
    """The counter is not personalisation data: wipe and termination do not reset it.

    (Through the protocol the counter is always full while a channel is open, so the erase
    itself is checked on a state with a lower count.)"""
    ch = personalise(host, lock=False)
    low = replace(host.card._store.state, issuer_auth_tries=3)
    for target in (LifeCycle.BLANK, LifeCycle.TERMINATED):
        assert low.erased(target).issuer_auth_tries == 3
    assert ch.set_status(0x01) == 0x9000
    assert tries(host.card) == MAX


def test_blocked_card_still_reads_and_verifies(issued: Plain) -> None:
    h = issued
    block(h)
    fci, sw = h.select()
    assert sw == 0x9000 and fci[0] == 0x6F
    assert h.collect(*h.read(2, le=256))[0] == RECORD[:256]
    assert h.send(0x00, 0x20, 0x00, 0x81, pin_block(PIN))[1] == 0x9000
    signature, sw = h.send(0x00, 0x88, 0x00, 0x01, bytes(16), le=256)
    assert sw == 0x9000 and len(signature) == 64
    assert h.send(0x00, 0x84, 0x00, 0x00, le=8)[1] == 0x9000
    for _ in range(3):
        h.send(0x00, 0x20, 0x00, 0x81, pin_block("000000"))
    assert h.send(0x00, 0x2C, 0x01, 0x81, pin_block(PUK))[1] == 0x9000  # PUK still unblocks
    assert h.send(0x00, 0x24, 0x00, 0x81, pin_block(PIN) + pin_block("246810"))[1] == 0x9000
    # but nothing through the issuer channel: no endorsement, no termination
    assert init_update(h)[1] == 0x6983
    assert h.raw(build(0x84, 0xF0, 0x00, 0x0C, bytes(8))) == (b"", 0x6982)
    assert h.raw(build(0x04, 0xD6, 0x83, 0x00, bytes(24))) == (b"", 0x6982)
    assert int(h.card.life_cycle) == 0x05


def test_terminated_answers_6985_before_blocked(host: Plain) -> None:
    ch = personalise(host, lock=False)
    assert ch.set_status(0x0C) == 0x9000
    assert init_update(host)[1] == 0x6985


# ---- tearing (section 9): a power cut never gives a try back --------------------------


def torn_external_authenticate(card: SimulatedCard, phase: str, *, right: bool) -> int:
    """A full handshake whose EXTERNAL AUTHENTICATE is torn at ``phase``; the counter after
    it, as found on disk (equal to memory) and in a card reloaded from the image."""
    h = Plain(card)
    h.select()

    def arm() -> None:
        card.faults.cut_power(1, phase)

    with pytest.raises(CardPowerLost):
        open_channel(h, MASTER_KEY, corrupt_cryptogram=not right, between=arm)
    assert not card.powered
    assert card.image_path is not None
    on_disk = read_image(card.image_path)
    assert on_disk == card._store.state
    card.power_on()
    return on_disk.issuer_auth_tries


START = 7  # after three failures, so that a restore would be visible


@pytest.mark.parametrize(
    ("phase", "right", "after"),
    [
        ("before", True, START),  # the command never ran: nothing compared, nothing counted
        ("mid", True, START - 1),  # try consumed, power gone before the restore
        ("after", True, MAX),  # authenticated (only the response was lost): restored
        ("before", False, START),
        ("mid", False, START - 1),
        ("after", False, START - 1),
    ],
)
def test_tear_external_authenticate(
    image_card: SimulatedCard, phase: str, right: bool, after: int
) -> None:
    h = Plain(image_card)
    h.select()
    for _ in range(MAX - START):
        fail_once(h)
    assert torn_external_authenticate(image_card, phase, right=right) == after
    assert tries(image_card) == after


@pytest.mark.parametrize("phase", ["before", "mid", "after"])
def test_tear_initialize_update(image_card: SimulatedCard, phase: str) -> None:
    h = Plain(image_card)
    h.select()
    image_card.faults.cut_power(1, phase)
    with pytest.raises(CardPowerLost):
        init_update(h)
    image_card.power_on()
    assert tries(image_card) == MAX


@pytest.mark.parametrize("phase", ["mid", "after"])
def test_no_free_guess_by_tearing(image_card: SimulatedCard, phase: str) -> None:
    """Cutting the power on every guess, before or after the answer, still blocks."""
    for _ in range(MAX):
        torn_external_authenticate(image_card, phase, right=False)
    h = Plain(image_card)
    h.select()
    assert init_update(h)[1] == 0x6983


def test_failed_counter_write_compares_nothing(
    image_card: SimulatedCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """6581 on the first transaction: the cryptogram was never looked at (no oracle)."""
    from simulators import image

    compared: list[int] = []
    real = applet.external_authenticate

    def spy(*args: object, **kwargs: object) -> object:
        compared.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(applet, "external_authenticate", spy)
    h = Plain(image_card)
    h.select()
    monkeypatch.setattr(image, "write_image", broken)
    assert open_channel(h, MASTER_KEY) == (None, 0x6581)
    assert compared == []
    assert image_card._store.state.issuer_auth_tries == MAX


def test_failed_restore_write_opens_no_channel(
    image_card: SimulatedCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """6581 on the second transaction: the try stays consumed and no channel is open."""
    from simulators import image

    real = image.write_image
    calls: list[int] = []

    def second_fails(path: Path, state: CardState, **kwargs: bool) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, state, **kwargs)

    h = Plain(image_card)
    h.select()
    monkeypatch.setattr(image, "write_image", second_fails)  # INITIALIZE UPDATE commits nothing
    assert open_channel(h, MASTER_KEY) == (None, 0x6581)
    assert len(calls) == 2
    monkeypatch.undo()
    assert read_image(image_card.image_path).issuer_auth_tries == MAX - 1  # type: ignore[arg-type]
    assert h.raw(build(0x84, 0xF0, 0x00, 0x03, bytes(8))) == (b"", 0x6982)  # no channel


# ---- images of application 1.0 --------------------------------------------------------


def test_v1_image_loads_with_the_full_allowance(tmp_path: Path) -> None:
    path = tmp_path / "old.card"
    shutil.copyfile(V1_IMAGE, path)
    card = SimulatedCard.load(path, durable=False)
    assert card._store.state.issuer_auth_tries == MAX
    assert int(card.life_cycle) == 0x05
    card.power_on()
    h = Plain(card)
    h.select()
    assert h.collect(*h.read(2, le=256))[0] == RECORD[:256]
    assert tries(card) == MAX
    assert path.read_bytes() == V1_IMAGE.read_bytes()  # reading does not rewrite it
    assert h.send(0x00, 0x20, 0x00, 0x81, pin_block(PIN))[1] == 0x9000  # its PIN, as before
    assert fail_once(h) == 0x63C9
    migrated = read_image(path)
    assert migrated.issuer_auth_tries == MAX - 1
    assert '"version": 2' in path.read_text()
    ch = channel(h)
    assert ch.send(0x00, 0xD6, 0x83, 0x00, b"endorsed")[1] == 0x9000


def test_v1_image_with_a_v2_field_is_refused(tmp_path: Path) -> None:
    import hashlib
    import json

    doc = json.loads(V1_IMAGE.read_text())
    doc["card"]["issuer_auth_tries"] = MAX
    canonical = json.dumps(doc["card"], sort_keys=True, separators=(",", ":")).encode()
    doc["sha256"] = hashlib.sha256(canonical).hexdigest()
    bad = tmp_path / "bad.card"
    bad.write_text(json.dumps(doc))
    with pytest.raises(CardImageError, match="version 2 field"):
        SimulatedCard.load(bad)


@pytest.mark.parametrize("value", [-1, MAX + 1, True, "10", None])
def test_v2_counter_out_of_range_is_refused(tmp_path: Path, value: object) -> None:
    import hashlib
    import json

    card = SimulatedCard.manufacture(master_keys={1: MASTER_KEY}, image_path=tmp_path / "c.card")
    assert card.image_path is not None
    doc = json.loads(card.image_path.read_text())
    doc["card"]["issuer_auth_tries"] = value
    canonical = json.dumps(doc["card"], sort_keys=True, separators=(",", ":")).encode()
    doc["sha256"] = hashlib.sha256(canonical).hexdigest()
    card.image_path.write_text(json.dumps(doc))
    with pytest.raises(CardImageError, match="issuer_auth_tries"):
        SimulatedCard.load(card.image_path)


def test_fleet_loads_v1_images_from_its_directory(tmp_path: Path) -> None:
    """Existing simulated cards under PERMIT_HOME/sim/cards keep working after the upgrade."""
    cards = tmp_path / "cards"
    cards.mkdir()
    shutil.copyfile(V1_IMAGE, cards / "0a0b0c0d0e0f1011.card")
    fleet = SimFleet(tmp_path, {1: MASTER_KEY}, n_cards=1)
    (card,) = fleet._load_cards()
    assert card.serial == bytes.fromhex("0A0B0C0D0E0F1011")
    assert card._store.state.issuer_auth_tries == MAX
