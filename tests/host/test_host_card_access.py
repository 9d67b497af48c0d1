"""The card-access seam (``card_service.card.access.CardAccess``) every workflow reaches cards
through: a session per block, disconnected however the block ends, with the access mode the
caller asked for.  On the in-process simulator driver."""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import AbstractContextManager
from typing import Any

import pytest

from card_service.card.access import CardAccess
from card_service.card.session import PermitCardSession
from card_service.record import Verifier
from card_service.record.ephemeral_pki import EphemeralPki
from card_service.workflows.verify import verify_card
from reader_drivers.base import CardConnection, ReaderInfo
from reader_drivers.errors import CommunicationError, NoCard, ReaderBusy
from reader_drivers.sim import SimReaderDriver
from tests.conftest import new_blank_card

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


class _Recording:
    """A driver over a :class:`SimReaderDriver` that records connects and disconnects and
    can make every disconnect fail."""

    def __init__(self, inner: SimReaderDriver, *, failing_disconnect: bool = False) -> None:
        self.inner = inner
        self.failing_disconnect = failing_disconnect
        self.connects: list[tuple[str, bool]] = []
        self.disconnects = 0

    @property
    def name(self) -> str:
        return "recording"

    def list_readers(self) -> list[ReaderInfo]:
        return self.inner.list_readers()

    def connect(self, reader: str, *, exclusive: bool = False) -> CardConnection:
        self.connects.append((reader, exclusive))
        return _Connection(self, self.inner.connect(reader, exclusive=exclusive))

    def wait_for_events(self, timeout: float) -> list[Any]:
        return self.inner.wait_for_events(timeout)


class _Connection:
    def __init__(self, driver: _Recording, inner: CardConnection) -> None:
        self.driver, self.inner = driver, inner

    @property
    def reader(self) -> str:
        return self.inner.reader

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    @property
    def supports_extended_length(self) -> bool:
        return self.inner.supports_extended_length

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        return self.inner.transmit(apdu)

    def transaction(self) -> AbstractContextManager[None]:
        return self.inner.transaction()

    def reset(self) -> bytes:
        return self.inner.reset()

    def disconnect(self) -> None:
        self.driver.disconnects += 1
        self.inner.disconnect()  # released either way: the failure is the report of it
        if self.driver.failing_disconnect:
            raise CommunicationError(self.reader, "disconnect failed")


@pytest.fixture
def sim() -> SimReaderDriver:
    driver = SimReaderDriver(slots=2)
    driver.insert(0, new_blank_card()[0])
    return driver


def _reader(sim: SimReaderDriver) -> str:
    return sim.reader_names[0]


def test_a_session_is_opened_and_disconnected_after_a_normal_block(sim: SimReaderDriver) -> None:
    rec = _Recording(sim)
    cards = CardAccess(rec)
    with cards.session(_reader(sim)) as session:
        assert isinstance(session, PermitCardSession)
        info = session.select()
        assert info.serial
        assert rec.disconnects == 0
    assert rec.connects == [(_reader(sim), True)]  # exclusive by default
    assert rec.disconnects == 1
    sim.connect(_reader(sim), exclusive=True).disconnect()  # nothing left holding the card


def test_the_session_is_disconnected_after_an_exception(sim: SimReaderDriver) -> None:
    rec = _Recording(sim)
    with pytest.raises(KeyError, match="boom"), CardAccess(rec).session(_reader(sim)):
        raise KeyError("boom")
    assert rec.disconnects == 1
    sim.connect(_reader(sim), exclusive=True).disconnect()


def test_a_failing_disconnect_does_not_mask_the_real_error(
    sim: SimReaderDriver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="card_service.card.access")
    rec = _Recording(sim, failing_disconnect=True)
    with pytest.raises(KeyError, match="the real error"), CardAccess(rec).session(_reader(sim)):
        raise KeyError("the real error")
    assert rec.disconnects == 1
    assert "disconnect from" in caplog.text


def test_a_failing_disconnect_after_a_normal_block_is_logged_not_raised(
    sim: SimReaderDriver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="card_service.card.access")
    rec = _Recording(sim, failing_disconnect=True)
    with CardAccess(rec).session(_reader(sim)) as session:
        session.select()
    assert rec.disconnects == 1
    assert "disconnect from" in caplog.text


@pytest.mark.parametrize("exclusive", [True, False])
def test_exclusive_is_passed_through(sim: SimReaderDriver, exclusive: bool) -> None:
    rec = _Recording(sim)
    reader = _reader(sim)
    with CardAccess(rec).session(reader, exclusive=exclusive):
        assert rec.connects == [(reader, exclusive)]
        if exclusive:  # nobody else gets in
            with pytest.raises(ReaderBusy):
                sim.connect(reader)
        else:  # others may read too, but nobody may take it exclusively
            sim.connect(reader).disconnect()
            with pytest.raises(ReaderBusy):
                sim.connect(reader, exclusive=True)


def test_a_connect_failure_is_raised_before_the_block(sim: SimReaderDriver) -> None:
    rec = _Recording(sim)
    entered = False
    with pytest.raises(NoCard):
        with CardAccess(rec).session(sim.reader_names[1]):  # the empty reader
            entered = True
    assert not entered and rec.disconnects == 0


def test_readers_are_the_drivers() -> None:
    sim = SimReaderDriver(slots=2)
    sim.insert(1, new_blank_card()[0])
    assert CardAccess(sim).readers() == sim.list_readers()
    assert "sim" in repr(CardAccess(sim))


def test_verify_card_reads_with_shared_access(sim: SimReaderDriver) -> None:
    """``permit verify`` connects shared, as it always did: another reader of the card does
    not make it fail, and it asks for no exclusive access."""
    rec = _Recording(sim)
    reader = _reader(sim)
    other = sim.connect(reader)  # someone else is reading the card
    try:
        trust = EphemeralPki.create(NOW - dt.timedelta(days=1)).trust(NOW)
        check = verify_card(CardAccess(rec), reader, Verifier(trust), NOW)
    finally:
        other.disconnect()
    assert not check.passed and check.problems == ("card_blank",)
    assert rec.connects == [(reader, False)] and rec.disconnects == 1
