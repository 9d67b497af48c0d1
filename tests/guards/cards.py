"""Cards that lie: emulators carrying a copied record, cards whose chip state is changed
behind the host's back.  Tests use them to ask the product for its own verdict.

They reach into the simulator's persistent state (``SimulatedCard._store``) on purpose: that
is how an attacker's emulator or a faulty chip behaves, and the host cannot tell.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

from card_service.card.session import PermitCardSession
from card_service.card.wire import FileId, LifeCycle
from card_service.office.ephemeral import Sandbox
from card_service.record import sign_record
from card_service.workflows.application import PermitApplication
from card_service.workflows.issuer import IssuerContext
from reader_drivers.sim import SimReaderDriver
from simulators.card import SimulatedCard

__all__ = [
    "clone_card",
    "issue_genuine",
    "personalise",
    "read_record",
    "rewrite_state",
    "swap_card_key",
]


def rewrite_state(card: SimulatedCard, **changes: Any) -> None:
    """Change the card's persistent state in place (a faulty chip or an emulator)."""
    store = card._store
    store._state = dataclasses.replace(store.state, **changes)


def swap_card_key(card: SimulatedCard) -> None:
    """The card now holds another P-256 private key than the one it reported."""
    rewrite_state(card, card_key=secrets.randbelow(2**255 - 1).to_bytes(32, "big"))


def read_record(driver: SimReaderDriver, reader: str) -> bytes:
    conn = driver.connect(reader)
    try:
        session = PermitCardSession(conn)
        session.select()
        return session.read_file(FileId.RECORD)
    finally:
        conn.disconnect()


def personalise(
    issuer: IssuerContext,
    now: dt.datetime,
    driver: SimReaderDriver,
    reader: str,
    *,
    record: bytes | None = None,
    application: PermitApplication | None = None,
    permit_number: str = "",
    card_serial: bytes | None = None,
    issue_date: Any = None,
) -> bytes:
    """Personalise and lock the card in ``reader`` through the issuer channel, as a rogue
    station holding the card's SCP03 keys would: the card generates its own key; the record
    written is ``record`` (a byte copy of another card's) or one signed by the station's
    document signer for ``application`` with the given number/serial (the card's serial
    unless ``card_serial``).  Returns the record written."""
    conn = driver.connect(reader)
    try:
        session = PermitCardSession(conn)
        session.select()
        info = session.read_card_info()
        session.open_issuer_channel(issuer.key_provider)
        session.begin_personalisation()
        card_key = session.generate_card_key()
        if record is None:
            assert application is not None
            data = application.permit_data(
                permit_number=permit_number,
                card_serial=card_serial if card_serial is not None else info.serial,
                issue_date=issue_date or now.date(),
            )
            record = sign_record(
                data,
                card_key=card_key,
                signer_key=issuer.signer_key,
                signer_chain=issuer.signer_chain,
                now=now,
            )
        session.write_file(FileId.RECORD, record)
        session.set_pin("123456")
        session.set_puk("12345678")
        session.lock()
        assert session.read_card_info().life_cycle is LifeCycle.ISSUED
        return record
    finally:
        conn.disconnect()


def clone_card(
    issuer: IssuerContext,
    now: dt.datetime,
    driver: SimReaderDriver,
    victim: SimulatedCard,
    make_card: Callable[[bytes], SimulatedCard],
) -> tuple[SimulatedCard, str]:
    """An emulator with the victim's serial and a byte copy of its record, locked (ISSUED),
    but its own card key: everything a reader can copy, nothing it cannot.  It takes the
    victim's place in its reader (the victim is removed); returns the clone and the reader.
    ``make_card(serial)`` manufactures a blank card with that serial (and its SCP03 keys)."""
    victim_reader = next(n for n in driver.reader_names if driver.card_in(n) is victim)
    record = read_record(driver, victim_reader)
    clone = make_card(victim.serial)
    driver.remove(victim_reader)
    reader = driver.insert(victim_reader, clone)
    personalise(issuer, now, driver, reader, record=record)
    assert read_record(driver, reader) == record
    return clone, reader


def issue_genuine(station: Sandbox, driver: SimReaderDriver, card: SimulatedCard, slot: int) -> str:
    """Issue a permit onto ``card`` in ``slot`` with the station's own workflow; the number."""
    reader = driver.insert(slot, card)
    app, app_id = station.application()
    return station.workflow().issue(app, app_id, reader, station.now).permit_number
