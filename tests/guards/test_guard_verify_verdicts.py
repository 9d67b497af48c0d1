"""``verify_card``'s own verdicts for cards that must not pass: a PERSONALISING card (read
back and verified, never locked), a card whose serial is not the record's, and a card the
register binds to another card serial.

The crash tests' helper (tests/workflows/helpers.py) checks the life cycle itself, so these
assert the product's answers directly: they fail when ``verify_card`` accepts a
half-personalised card or stops reporting ``card_serial_mismatch`` /
``register_card_mismatch``.
"""

from __future__ import annotations

import os

import pytest
from sqlmodel import Session, select

from card_service.card.wire import LifeCycle
from card_service.record import Verdict, Verifier
from card_service.register.models import Card, Permit, PermitState
from card_service.register.permit_numbers import format_permit_number
from card_service.workflows import SimulatedCrash
from card_service.workflows.progress import Step
from card_service.workflows.verify import register_revocation, verify_card
from tests.dbfixtures import NOW
from tests.guards.cards import issue_genuine, personalise
from tests.workflows.conftest import World


def _verifier(world: World) -> Verifier:
    return Verifier(world.issuer.trust, revocation=register_revocation(world.register))


def test_a_personalising_card_never_passes(world: World) -> None:
    card = world.new_card()
    reader = world.driver.insert(0, card)
    app, app_id = world.application()

    def crash_before_lock(step: Step) -> None:
        if step is Step.LOCK:
            raise SimulatedCrash("killed before the lock")

    with pytest.raises(SimulatedCrash):
        world.workflow(hook=crash_before_lock).issue(app, app_id, reader, NOW)
    assert card.life_cycle is LifeCycle.PERSONALISING
    [pending] = world.register.lock_pending(app_id)  # read back, verified, marked ISSUED
    assert pending.state is PermitState.ISSUED

    offline = verify_card(world.cards, reader, Verifier(world.issuer.trust), NOW)
    assert (offline.passed, offline.problems) == (False, ("card_half_personalised",))
    assert offline.card.condition.value == "half_personalised"
    counter = verify_card(world.cards, reader, _verifier(world), NOW, register=world.register)
    assert (counter.passed, counter.problems) == (False, ("card_half_personalised",))


def test_a_record_for_another_serial_is_a_serial_mismatch(world: World) -> None:
    """A genuine signature, the card's own key, but the record names another card."""
    card = world.new_card()
    reader = world.driver.insert(0, card)
    app, _ = world.application()
    number = format_permit_number("330106", 2026, 1)
    personalise(
        world.issuer,
        NOW,
        world.driver,
        reader,
        application=app,
        permit_number=number,
        card_serial=os.urandom(8),
    )
    check = verify_card(world.cards, reader, Verifier(world.issuer.trust), NOW)
    assert check.result is not None and check.result.verdict is Verdict.VALID
    assert (check.passed, check.problems) == (False, ("card_serial_mismatch",))


def test_a_card_the_register_binds_elsewhere_is_a_register_card_mismatch(world: World) -> None:
    """The card is genuine and its record verifies, but the register says the permit is on
    another card (e.g. moved there by an officer): the counter must not accept it."""
    card = world.new_card()
    number = issue_genuine(world, world.driver, card, 0)
    reader = world.driver.reader_names[0]
    assert verify_card(world.cards, reader, _verifier(world), NOW, register=world.register).passed
    other = os.urandom(8).hex().upper()
    with Session(world.engine) as session:
        session.add(Card(serial=other, state="BLANK", updated_at=NOW))
        session.commit()
        permit = session.exec(select(Permit).where(Permit.number == number)).one()
        permit.card_serial = other
        session.add(permit)
        session.commit()
    check = verify_card(world.cards, reader, _verifier(world), NOW, register=world.register)
    assert check.result is not None and check.result.verdict is Verdict.VALID
    assert (check.passed, check.problems) == (False, ("register_card_mismatch",))
