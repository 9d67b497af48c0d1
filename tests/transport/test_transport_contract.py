"""The transport contract, run against the simulator driver and against PC/SC."""

from __future__ import annotations

import threading

import pytest

from card_service.card import wire
from reader_drivers import (
    CardRemoved,
    NoCard,
    NoSuchReader,
    ReaderBusy,
    ReaderEvent,
    ReaderEventKind,
)
from tests.conftest import CardEnv, wait_until

SELECT_AID = bytes([0x00, 0xA4, 0x04, 0x00, len(wire.AID)]) + wire.AID + b"\x00"
GET_CHALLENGE_8 = bytes.fromhex("0084000008")


def select_ef(fid: int) -> bytes:
    return bytes([0x00, 0xA4, 0x02, 0x0C, 0x02]) + fid.to_bytes(2, "big")


READ_BINARY = bytes.fromhex("00B0000000")


def test_list_readers_shows_card_and_empty_reader(card_env: CardEnv) -> None:
    readers = {r.name: r for r in card_env.driver.list_readers()}
    assert readers[card_env.reader].card_present
    assert readers[card_env.reader].atr == wire.atr()
    assert not readers[card_env.empty_reader].card_present
    assert readers[card_env.empty_reader].atr is None


def test_connect_and_select_by_aid(card_env: CardEnv) -> None:
    conn = card_env.connect()
    assert conn.reader == card_env.reader
    assert conn.atr == wire.atr()
    data, sw = conn.transmit(SELECT_AID)
    assert sw == 0x9000
    assert data[0] == wire.TAG_FCI
    assert wire.AID in data
    assert card_env.card.serial in data


def test_get_challenge_is_random(card_env: CardEnv) -> None:
    conn = card_env.connect()
    a, sw1 = conn.transmit(GET_CHALLENGE_8)
    b, sw2 = conn.transmit(GET_CHALLENGE_8)
    assert (sw1, sw2) == (0x9000, 0x9000)
    assert len(a) == len(b) == 8 and a != b


def test_no_such_reader_lists_readers(card_env: CardEnv) -> None:
    with pytest.raises(NoSuchReader) as info:
        card_env.driver.connect("No Such Reader 99")
    message = str(info.value)
    assert "No Such Reader 99" in message
    assert card_env.reader in message and card_env.empty_reader in message
    assert info.value.reader == "No Such Reader 99"


def test_no_card(card_env: CardEnv) -> None:
    with pytest.raises(NoCard) as info:
        card_env.driver.connect(card_env.empty_reader)
    assert card_env.empty_reader in str(info.value)


def test_card_removed_mid_command(card_env: CardEnv) -> None:
    conn = card_env.connect()
    assert conn.transmit(SELECT_AID)[1] == 0x9000
    card_env.card.faults.cut_power(after_apdus=1, phase="mid")
    with pytest.raises(CardRemoved):
        conn.transmit(GET_CHALLENGE_8)
    wait_until(lambda: not card_env.card_present(), what="reader to report the card gone")
    with pytest.raises(CardRemoved):
        conn.transmit(GET_CHALLENGE_8)
    card_env.card.faults.clear()
    card_env.insert()
    fresh = card_env.connect()
    assert fresh.transmit(SELECT_AID)[1] == 0x9000


def test_pulled_card_raises_card_removed(card_env: CardEnv) -> None:
    conn = card_env.connect()
    card_env.remove()
    with pytest.raises((CardRemoved, NoCard)):
        conn.transmit(SELECT_AID)
    with pytest.raises(NoCard):
        card_env.driver.connect(card_env.reader)


def test_exclusive_access(card_env: CardEnv) -> None:
    owner = card_env.connect(exclusive=True)
    with pytest.raises(ReaderBusy) as info:
        card_env.driver.connect(card_env.reader)
    assert card_env.reader in str(info.value)
    assert owner.transmit(SELECT_AID)[1] == 0x9000
    owner.disconnect()
    other = card_env.connect()
    assert other.transmit(SELECT_AID)[1] == 0x9000
    with pytest.raises(ReaderBusy):
        card_env.driver.connect(card_env.reader, exclusive=True)


def test_transaction_is_reentrant(card_env: CardEnv) -> None:
    conn = card_env.connect()
    with conn.transaction():
        with conn.transaction():
            assert conn.transmit(SELECT_AID)[1] == 0x9000
        assert conn.transmit(GET_CHALLENGE_8)[1] == 0x9000
    assert conn.transmit(GET_CHALLENGE_8)[1] == 0x9000


def test_transactions_never_interleave(card_env: CardEnv) -> None:
    """Two threads each SELECT their own EF and READ it, 200 times, inside transaction().

    Interleaving would let one thread read the other's EF (the current EF is card
    state), so every result must equal the one measured alone.
    """
    files = (wire.FileId.CARD_INFO, wire.FileId.CARD_KEY)
    probe = card_env.connect()

    def sequence(conn: object, fid: int) -> tuple[bytes, int]:
        assert hasattr(conn, "transmit")
        conn.transmit(SELECT_AID)
        conn.transmit(select_ef(fid))
        return conn.transmit(READ_BINARY)  # type: ignore[no-any-return]

    expected: dict[int, tuple[bytes, int]] = {fid: sequence(probe, fid) for fid in files}
    assert expected[files[0]] != expected[files[1]]
    failures: list[str] = []

    def worker(fid: int) -> None:
        conn = card_env.connect()
        try:
            for i in range(200):
                with conn.transaction():
                    got = sequence(conn, fid)
                if got != expected[fid]:
                    failures.append(f"EF {fid:04X} round {i}: {got!r}")
                    return
        except Exception as exc:  # surfaced below
            failures.append(f"EF {fid:04X}: {exc!r}")

    threads = [threading.Thread(target=worker, args=(fid,)) for fid in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures


def test_events_on_remove_and_insert(card_env: CardEnv) -> None:
    driver = card_env.driver
    driver.wait_for_events(0)  # drain
    card_env.remove()
    events = _collect(card_env, ReaderEventKind.CARD_REMOVED)
    assert any(e.reader == card_env.reader for e in events)
    card_env.insert()
    events = _collect(card_env, ReaderEventKind.CARD_INSERTED)
    inserted = [e for e in events if e.reader == card_env.reader]
    assert inserted and inserted[-1].atr == wire.atr()


def _collect(card_env: CardEnv, kind: ReaderEventKind) -> list[ReaderEvent]:
    seen: list[ReaderEvent] = []
    for _ in range(20):
        events = card_env.driver.wait_for_events(0.5)
        seen.extend(events)
        if any(e.kind is kind and e.reader == card_env.reader for e in events):
            return [e for e in seen if e.kind is kind]
    raise AssertionError(f"no {kind} event, saw {seen}")


def test_wait_for_events_times_out_empty(card_env: CardEnv) -> None:
    card_env.driver.wait_for_events(0)
    assert card_env.driver.wait_for_events(0.1) == []


def test_reset_returns_atr(card_env: CardEnv) -> None:
    conn = card_env.connect()
    assert conn.reset() == wire.atr()
    assert conn.transmit(SELECT_AID)[1] == 0x9000


def test_extended_apdu_32k_passes(card_env: CardEnv) -> None:
    """A 32 KiB command reaches the card whole: the card checks Lc against the body."""
    conn = card_env.connect()
    assert conn.supports_extended_length
    conn.transmit(SELECT_AID)
    payload = bytes(32768)
    apdu = bytes.fromhex("00D60000") + b"\x00" + len(payload).to_bytes(2, "big") + payload
    _, sw = conn.transmit(apdu)
    assert sw != 0x6700, f"card saw a length mismatch: {sw:04X}"
    too_long = bytes(wire.MAX_COMMAND_DATA + 1)
    apdu = bytes.fromhex("00D60000") + b"\x00" + len(too_long).to_bytes(2, "big") + too_long
    assert conn.transmit(apdu)[1] == 0x6700
    # extended Le: READ BINARY of EF.CardInfo with Le = 0000
    conn.transmit(select_ef(wire.FileId.CARD_INFO))
    data, sw = conn.transmit(bytes.fromhex("00B00000000000"))
    assert sw == 0x9000 and data[0] == wire.TAG_CARD_INFO


def test_disconnect_is_idempotent(card_env: CardEnv) -> None:
    conn = card_env.connect()
    conn.disconnect()
    conn.disconnect()
