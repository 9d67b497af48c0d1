"""Annual endorsement on the card (Article 10): in the window, late, too early, interrupted.

Time is passed in: each test issues at NOW and endorses at instants around the permit's due
date, with the issuing office's signer of that day (``World.issuer_at``), as rotation gives.
"""

from __future__ import annotations

import datetime as dt

import pytest

from card_service.card.session import PermitCardSession
from card_service.card.wire import FileId
from card_service.record import Verdict, Verifier
from card_service.record.endorsement import split_endorsements
from card_service.record.schedule import minus_one_month
from card_service.workflows.endorsement import endorse_card
from card_service.workflows.issuance import IssuanceError
from card_service.workflows.revocation import revoke_permit
from card_service.workflows.verify import register_revocation, verify_card
from reader_drivers.errors import ReaderError
from simulators.card import SimulatedCard
from tests.workflows.conftest import NOW, World


def at(day: dt.date) -> dt.datetime:
    """10:00 Beijing time on ``day`` (the register's local dates are China Standard Time)."""
    return dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC)


def _issue(world: World) -> tuple[str, str, SimulatedCard]:
    card = world.new_card()
    reader = world.driver.insert(0, card)
    app, app_id = world.application()
    result = world.workflow().issue(app, app_id, reader, NOW)
    return result.permit_number, reader, card


def _on_card(world: World, reader: str) -> int:
    conn = world.driver.connect(reader)
    try:
        session = PermitCardSession(conn)
        session.select()
        return len(split_endorsements(session.read_file(FileId.ENDORSEMENTS)))
    finally:
        conn.disconnect()


def _verify(world: World, reader: str, when: dt.datetime) -> tuple[bool, tuple[str, ...]]:
    issuer = world.issuer_at(when)
    verifier = Verifier(issuer.trust, revocation=register_revocation(world.register))
    check = verify_card(world.cards, reader, verifier, when, register=world.register)
    return check.passed, check.problems


def test_endorse_in_the_window_keeps_the_permit_valid_for_another_year(world: World) -> None:
    number, reader, _ = _issue(world)
    due = world.register.permit(number).first_endorsement_due
    when = at(due - dt.timedelta(days=10))
    assert world.register.endorsement_status(number, when).in_window

    result = endorse_card(world.register, world.issuer_at(when), world.cards, reader, when)
    assert (result.permit_number, result.sequence, result.late) == (number, 1, False)
    assert _on_card(world, reader) == 1
    view = world.register.permit(number)
    assert [(e.period_start, e.period_end) for e in view.endorsements] == [
        (due, due.replace(year=due.year + 1))
    ]
    # past the first due date the card is still VALID, and not suspended in the register
    after = at(due + dt.timedelta(days=30))
    assert _verify(world, reader, after) == (True, ())
    assert world.register.effective_state(number, after) == "ISSUED"
    # a second endorsement in the same window is refused and changes nothing
    with pytest.raises(IssuanceError) as info:
        endorse_card(world.register, world.issuer_at(when), world.cards, reader, when)
    assert info.value.code == "not_due"
    assert _on_card(world, reader) == 1 and len(world.register.permit(number).endorsements) == 1


def test_overdue_permit_is_suspended_and_a_late_endorsement_restores_it(world: World) -> None:
    number, reader, _ = _issue(world)
    view = world.register.permit(number)
    due = view.first_endorsement_due
    late = at(due + dt.timedelta(days=45))
    years_before = world.register.years_of_residence(number, at(due))

    passed, problems = _verify(world, reader, late)
    assert not passed and "record_suspended" in problems
    assert world.register.effective_state(number, late) == "SUSPENDED"
    # while suspended the count of years does not run on
    assert world.register.years_of_residence(number, late) == years_before

    result = endorse_card(world.register, world.issuer_at(late), world.cards, reader, late)
    assert result.late
    assert _verify(world, reader, late) == (True, ())
    status = world.register.endorsement_status(number, late)
    assert not status.suspended
    # Article 10: years of residence count continuously from the (late) endorsement
    assert status.counted_from == late.date()
    assert status.years_of_residence == 0
    assert world.register.years_of_residence(number, at(late.date().replace(year=late.year + 1)))


def test_too_early_changes_neither_register_nor_card(world: World) -> None:
    number, reader, _ = _issue(world)
    due = world.register.permit(number).first_endorsement_due
    early = at(minus_one_month(due) - dt.timedelta(days=1))
    with pytest.raises(IssuanceError) as info:
        endorse_card(world.register, world.issuer_at(early), world.cards, reader, early)
    assert info.value.code == "not_due"
    assert world.register.permit(number).endorsements == ()
    assert _on_card(world, reader) == 0


@pytest.mark.parametrize("phase", ["before", "mid", "after"])
def test_power_cut_at_every_apdu_of_an_endorsement(world: World, phase: str) -> None:
    """A power cut at each APDU: the register is never behind the card and at most one
    ahead; the retry - even after the due date - writes the endorsement the register holds
    (the same period, not a late one) and the card verifies."""
    k = 0
    while True:
        k += 1
        assert k < 60, "an endorsement should take far fewer APDUs"
        number, reader, card = _issue(world)
        due = world.register.permit(number).first_endorsement_due
        on_time = at(due - dt.timedelta(days=3))
        card.faults.cut_power(after_apdus=k, phase=phase)
        try:
            endorse_card(world.register, world.issuer_at(on_time), world.cards, reader, on_time)
        except (IssuanceError, ReaderError):
            torn = True
        else:
            torn = False
        card.faults.clear()
        world.driver.remove(0)
        world.driver.insert(0, card)
        registered = len(world.register.permit(number).endorsements)
        on_card = _on_card(world, reader)
        assert registered - on_card in (0, 1), (k, registered, on_card)
        if not torn:
            assert (registered, on_card) == (1, 1)
            break
        if on_card == 0:
            assert not _verify(world, reader, at(due + dt.timedelta(days=1)))[0]
        retry = at(due + dt.timedelta(days=5))  # past the due date: a fresh one would be late
        if registered == on_card == 1:
            world.driver.remove(0)
            continue  # the tear hit after the last write: nothing left to do
        # the office's signer of ``on_time`` is still in its signing window at ``retry``
        result = endorse_card(world.register, world.issuer_at(on_time), world.cards, reader, retry)
        assert (result.sequence, result.late) == (1, registered == 0), k
        assert _on_card(world, reader) == 1
        assert len(world.register.permit(number).endorsements) == 1
        assert _verify(world, reader, retry) == (True, ()), k
        world.driver.remove(0)
    assert k > 5  # the loop really ran through the endorsement's APDUs


def test_unwritten_endorsement_after_signer_rotation_is_refused_clearly(world: World) -> None:
    number, reader, _ = _issue(world)
    due = world.register.permit(number).first_endorsement_due
    on_time = at(due - dt.timedelta(days=3))
    world.register.record_endorsement(number, on_time, "officer")  # the card write never came
    later = at(due + dt.timedelta(days=100))
    with pytest.raises(IssuanceError) as info:
        endorse_card(world.register, world.issuer_at(later), world.cards, reader, later)
    assert info.value.code == "endorsement_signer_rotated"
    assert _on_card(world, reader) == 0


def test_second_year_and_revoked_permits(world: World) -> None:
    number, reader, _ = _issue(world)
    due = world.register.permit(number).first_endorsement_due
    first = at(due - dt.timedelta(days=5))
    endorse_card(world.register, world.issuer_at(first), world.cards, reader, first)
    second_due = due.replace(year=due.year + 1)
    second = at(second_due - dt.timedelta(days=5))
    result = endorse_card(world.register, world.issuer_at(second), world.cards, reader, second)
    assert (result.sequence, result.late) == (2, False)
    assert _on_card(world, reader) == 2
    assert _verify(world, reader, at(second_due + dt.timedelta(days=1))) == (True, ())

    revoke_permit(world.register, number, "cancelled", effective_at=second, actor="o", now=second)
    third = at(second_due.replace(year=second_due.year + 1) - dt.timedelta(days=5))
    with pytest.raises(IssuanceError) as info:
        endorse_card(world.register, world.issuer_at(third), world.cards, reader, third)
    assert info.value.code == "not_issued"
    assert _on_card(world, reader) == 2


def test_endorsed_card_verdict_names_the_endorsement(world: World) -> None:
    """The verifier's own verdict for the endorsed card is VALID after the first due date."""
    number, reader, _ = _issue(world)
    due = world.register.permit(number).first_endorsement_due
    when = at(due - dt.timedelta(days=1))
    endorse_card(world.register, world.issuer_at(when), world.cards, reader, when)
    later = at(due + dt.timedelta(days=100))
    issuer = world.issuer_at(later)
    check = verify_card(world.cards, reader, Verifier(issuer.trust), later)
    assert check.result is not None and check.result.verdict is Verdict.VALID
