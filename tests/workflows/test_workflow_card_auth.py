"""Authenticate the card before anything is recorded (issue 9, section 4).

An emulator carrying a victim's serial and a byte copy of its EF.Record (and EF.Endorsements)
but other keys must be refused by every officer workflow - endorse, terminate, replace,
issue and its resume paths - with a typed error, and the register and the audit log must be
unchanged.  Two kinds of copy: one with keys of another issuer (fails SCP03 and INTERNAL
AUTHENTICATE) and one that somehow has the victim's SCP03 keys but, necessarily, its own
card key (fails INTERNAL AUTHENTICATE only: proves the card-key check is on its own).

On the code before the fix the endorsement of a copy was recorded in the register and the
audit log (the card write failed only afterwards), and terminate recorded the termination.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from card_service.audit.models import AuditEvent, AuditHead
from card_service.card.scp03 import diversify_card_keys
from card_service.card.session import PermitCardSession
from card_service.card.wire import FileId
from card_service.register.models import Card, Endorsement, Permit, Revocation
from card_service.workflows.application import PermitApplication
from card_service.workflows.card_state import serial_text
from card_service.workflows.endorsement import endorse_card
from card_service.workflows.issuance import IssuanceError
from card_service.workflows.revocation import replace_permit, revoke_permit, terminate_card
from simulators.card import SimulatedCard
from tests.guards.cards import rewrite_state
from tests.workflows.conftest import NOW, World

COPY_KINDS = ["other_issuer_keys", "victim_scp03_keys"]


def _snapshot(world: World) -> tuple[Any, ...]:
    """Everything an officer workflow could have written."""
    with Session(world.engine) as s:
        head = s.get(AuditHead, 1)
        return (
            tuple(
                s.execute(
                    select(Permit.number, Permit.state, Permit.card_locked_at).order_by(
                        Permit.number
                    )
                ).all()
            ),
            tuple(s.execute(select(Card.serial, Card.state).order_by(Card.serial)).all()),
            s.execute(select(func.count()).select_from(Endorsement)).scalar_one(),
            s.execute(select(func.count()).select_from(Revocation)).scalar_one(),
            s.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
            None if head is None else (head.seq, head.entry_hash),
        )


def _read(world: World, reader: str) -> tuple[bytes, bytes]:
    conn = world.driver.connect(reader)
    try:
        session = PermitCardSession(conn)
        session.select()
        return session.read_file(FileId.RECORD), session.read_file(FileId.ENDORSEMENTS)
    finally:
        conn.disconnect()


def _copy(world: World, victim: SimulatedCard, kind: str, slot: int) -> str:
    """An emulator with the victim's serial and EF.Record, its own card key, locked."""
    record, endorsements = _read(world, world.driver.reader_names[0])
    assert endorsements == b""  # a fresh permit: nothing to copy there
    master = world.master_key if kind == "victim_scp03_keys" else os.urandom(16)
    copy = SimulatedCard.manufacture(
        master_keys={world.kvn: master}, kvn=world.kvn, serial=victim.serial, durable=False
    )
    reader = world.driver.insert(slot, copy)
    conn = world.driver.connect(reader)
    try:
        session = PermitCardSession(conn)
        session.select()
        session.open_issuer_channel(lambda serial, kvn: diversify_card_keys(master, serial, kvn))
        session.begin_personalisation()
        session.generate_card_key()
        session.write_file(FileId.RECORD, record)
        session.set_pin("123456")
        session.set_puk("12345678")
        session.lock()
    finally:
        conn.disconnect()
    assert _read(world, reader)[0] == record
    return reader


def _issued(world: World) -> tuple[str, SimulatedCard, PermitApplication, str]:
    card = world.new_card()
    reader = world.driver.insert(0, card)
    app, app_id = world.application()
    return world.workflow().issue(app, app_id, reader, NOW).permit_number, card, app, reader


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC)


@pytest.mark.parametrize("kind", COPY_KINDS)
def test_endorsing_a_copy_records_nothing(world: World, kind: str) -> None:
    number, victim, _app, genuine = _issued(world)
    copy = _copy(world, victim, kind, 1)
    world.driver.remove(0)  # the real card is at home
    when = _at(world.register.permit(number).first_endorsement_due - dt.timedelta(days=10))
    before = _snapshot(world)
    with pytest.raises(IssuanceError) as raised:
        endorse_card(world.register, world.issuer_at(when), world.cards, copy, when)
    assert raised.value.code == "card_unauthenticated"
    assert _snapshot(world) == before
    assert world.register.permit(number).endorsements == ()
    # the genuine card is endorsed as usual
    world.driver.insert(0, victim)
    endorse_card(world.register, world.issuer_at(when), world.cards, genuine, when)
    assert len(world.register.permit(number).endorsements) == 1


@pytest.mark.parametrize("kind", COPY_KINDS)
def test_terminating_a_copy_records_nothing(world: World, kind: str) -> None:
    number, victim, _app, genuine = _issued(world)
    later = NOW + dt.timedelta(days=1)
    revoke_permit(world.register, number, "lost", effective_at=later, actor="officer", now=later)
    copy = _copy(world, victim, kind, 1)
    before = _snapshot(world)
    with pytest.raises(IssuanceError) as raised:
        terminate_card(world.register, world.issuer, world.cards, copy, later)
    assert raised.value.code == "card_unauthenticated"
    assert _snapshot(world) == before
    world.driver.remove(1)
    serial = terminate_card(world.register, world.issuer, world.cards, genuine, later)
    assert serial == serial_text(victim.serial)


@pytest.mark.parametrize("kind", COPY_KINDS)
def test_resuming_onto_a_copy_records_nothing(world: World, kind: str) -> None:
    """The issuance retry on an ISSUED card (a resume path) with a copy of the victim."""
    number, victim, app, _genuine = _issued(world)
    copy = _copy(world, victim, kind, 1)
    view = world.register.permit(number)
    before = _snapshot(world)
    with pytest.raises(IssuanceError) as raised:
        world.workflow().issue(app, view.application_id, copy, NOW)
    assert raised.value.code == "card_unauthenticated"
    assert _snapshot(world) == before


def _foreign_blank(world: World, slot: int) -> tuple[str, SimulatedCard]:
    card = SimulatedCard.manufacture(
        master_keys={world.kvn: os.urandom(16)}, kvn=world.kvn, durable=False
    )
    return world.driver.insert(slot, card), card


def test_issuing_or_replacing_onto_a_foreign_card_records_nothing(world: World) -> None:
    """A blank card of another issuer (fails SCP03) gets no reservation, and a permit is
    not revoked for it."""
    number, _, first, _ = _issued(world)
    world.driver.remove(0)
    reader, _ = _foreign_blank(world, 0)
    app, app_id = world.application()
    before = _snapshot(world)
    with pytest.raises(IssuanceError) as raised:
        world.workflow().issue(app, app_id, reader, NOW)
    assert raised.value.code == "card_unauthenticated"
    assert _snapshot(world) == before
    with pytest.raises(IssuanceError) as raised:
        replace_permit(
            world.workflow(),
            number,
            "lost",
            first,
            reader,
            NOW + dt.timedelta(days=1),
        )
    assert raised.value.code == "card_unauthenticated"
    assert _snapshot(world) == before
    assert world.register.permit(number).state.value == "ISSUED"


def _refused_blocked(raised: pytest.ExceptionInfo[IssuanceError]) -> None:
    assert raised.value.code == "issuer_channel_blocked"
    assert raised.value.remedy == "replace the card"
    assert raised.value.as_dict()["remedy"] == "replace the card"


def test_a_card_with_a_blocked_issuer_channel_is_refused_before_the_register(
    world: World,
) -> None:
    """Spec 6.8: EF.CardInfo says the issuer channel is blocked (counter 0).  Issue, replace,
    endorse and terminate refuse it with ``issuer_channel_blocked`` and the remedy, and the
    register and the audit log are unchanged."""
    number, card, app, reader = _issued(world)
    when = _at(world.register.permit(number).first_endorsement_due - dt.timedelta(days=10))
    rewrite_state(card, issuer_auth_tries=0)  # ten bad EXTERNAL AUTHENTICATEs, as the card sees it
    before = _snapshot(world)
    with pytest.raises(IssuanceError) as raised:
        endorse_card(world.register, world.issuer_at(when), world.cards, reader, when)
    _refused_blocked(raised)
    with pytest.raises(IssuanceError) as raised:
        terminate_card(world.register, world.issuer, world.cards, reader, NOW)
    _refused_blocked(raised)
    assert _snapshot(world) == before
    # a blank card blocked before issuance: no reservation, no revocation for it
    world.driver.remove(0)
    blank = world.new_card()
    rewrite_state(blank, issuer_auth_tries=0)
    reader = world.driver.insert(0, blank)
    other, other_id = world.application()
    before = _snapshot(world)
    with pytest.raises(IssuanceError) as raised:
        world.workflow().issue(other, other_id, reader, NOW)
    _refused_blocked(raised)
    with pytest.raises(IssuanceError) as raised:
        replace_permit(world.workflow(), number, "damaged", app, reader, NOW)
    _refused_blocked(raised)
    assert raised.value.permit_number == number
    assert _snapshot(world) == before
    assert world.register.permit(number).state.value == "ISSUED"
