"""Invariant checks and an APDU-counting card for the crash enumeration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlmodel import Session, col

from card_service.card.session import PermitCardSession
from card_service.card.wire import FileId, LifeCycle
from card_service.record import Verifier
from card_service.register.models import Permit, PermitState
from card_service.workflows.card_state import serial_text
from card_service.workflows.cardops import digests_of
from card_service.workflows.verify import verify_card
from simulators.card import SimulatedCard
from simulators.metered import MeteredCard
from tests.workflows.conftest import NOW, World

INSPECT_SLOT = 1


#: A SimulatedCard that counts the APDUs it receives.
CountingCard = MeteredCard


@contextmanager
def _in_reader(world: World, card: SimulatedCard) -> Iterator[str]:
    """The reader holding ``card``; inserted into the inspection slot (and removed) if needed."""
    for name in world.driver.reader_names:
        if world.driver.card_in(name) is card:
            yield name
            return
    reader = world.driver.insert(INSPECT_SLOT, card)
    try:
        yield reader
    finally:
        world.driver.remove(INSPECT_SLOT)


def _card_record(world: World, card: SimulatedCard) -> bytes:
    with _in_reader(world, card) as reader:
        conn = world.driver.connect(reader)
        session = PermitCardSession(conn)
        session.select()
        data = session.read_file(FileId.RECORD)
        conn.disconnect()
        return data


def card_passes(world: World, card: SimulatedCard) -> bool:
    """Offline (card-only) verification, as a relying party without the register does it."""
    if card.life_cycle is not LifeCycle.ISSUED:
        return False
    with _in_reader(world, card) as reader:
        return verify_card(world.cards, reader, Verifier(world.issuer.trust), NOW).passed


def check_invariants(world: World, cards: list[SimulatedCard]) -> None:
    """(a) every card that passes verification has an issued register record (issued_at set,
    same serial, same digests); (b) every ISSUED permit has a card that passed read-back
    verification: it carries the digests that ``mark_issued`` records only after read-back
    verification, and the card with that serial holds exactly that record (locked, or
    PERSONALISING while the lock is pending - which no verifier accepts)."""
    by_serial = {serial_text(c.serial): c for c in cards}
    with Session(world.engine) as session:
        permits = list(session.execute(select(Permit)).scalars())
    for card in cards:
        if not card_passes(world, card):
            continue
        digests = digests_of(_card_record(world, card))
        matching = [
            p
            for p in permits
            if p.card_serial == serial_text(card.serial)
            and p.record_digest == digests.record
            and p.mso_digest == digests.mso
            and p.issued_at is not None
        ]
        assert matching, "(a) a card passes verification without an issued register record"
        assert matching[0].state in (PermitState.ISSUED, PermitState.REVOKED)
    for p in permits:
        if p.state != PermitState.ISSUED:
            continue
        assert p.issued_at is not None, "(b) ISSUED without read-back verification"
        assert p.mso_digest is not None and p.record_digest is not None, "(b)"
        card = by_serial.get(p.card_serial)
        if card is not None:
            assert card.life_cycle in (LifeCycle.PERSONALISING, LifeCycle.ISSUED)
            assert digests_of(_card_record(world, card)).record == p.record_digest, "(b)"
            if p.card_locked_at is not None:
                assert card.life_cycle is LifeCycle.ISSUED, "confirmed lock on an unlocked card"


def issued_permit(world: World, application_ids: set[int]) -> Permit | None:
    with Session(world.engine) as session:
        rows = list(
            session.execute(select(Permit).where(col(Permit.state) == PermitState.ISSUED)).scalars()
        )
    found = [p for p in rows if p.application_id in application_ids]
    return found[0] if found else None
