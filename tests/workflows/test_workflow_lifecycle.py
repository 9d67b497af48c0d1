"""Verify (with the register), revoke, replace, terminate, endorse-before-due."""

from __future__ import annotations

import datetime as dt

import pytest

from card_service.card.wire import LifeCycle
from card_service.record import Verifier
from card_service.register.errors import InvalidState
from card_service.register.models import PermitState
from card_service.workflows.endorsement import endorse_card
from card_service.workflows.issuance import IssuanceError
from card_service.workflows.revocation import replace_permit, revoke_permit, terminate_card
from card_service.workflows.verify import register_revocation, verify_card
from tests.workflows.conftest import NOW, World


def _issue(world: World) -> tuple[str, str, object]:
    card = world.new_card()
    reader = world.driver.insert(0, card)
    app, app_id = world.application()
    result = world.workflow().issue(app, app_id, reader, NOW)
    return result.permit_number, reader, app


def test_verify_revoke_replace_terminate(world: World) -> None:
    number, reader, app = _issue(world)
    verifier = Verifier(world.issuer.trust, revocation=register_revocation(world.register))
    check = verify_card(world.cards, reader, verifier, NOW, register=world.register)
    assert check.passed, check.problems
    assert check.to_json()["register_state"] == "ISSUED"

    with pytest.raises((IssuanceError, InvalidState)):  # not due yet
        endorse_card(world.register, world.issuer, world.cards, reader, NOW)

    old = world.driver.remove(0)
    assert old is not None
    new = world.new_card()
    world.driver.insert(0, new)
    later = NOW + dt.timedelta(hours=1)
    replaced = replace_permit(world.workflow(), number, "damaged", app, reader, later)  # type: ignore[arg-type]
    assert replaced.permit_number != number
    assert world.register.permit(number).state is PermitState.REVOKED
    assert new.life_cycle is LifeCycle.ISSUED

    world.driver.remove(0)
    world.driver.insert(0, old)
    check = verify_card(world.cards, reader, verifier, later, register=world.register)
    assert not check.passed and "register_revoked" in check.problems
    terminate_card(world.register, world.issuer, world.cards, reader, later)
    assert old.life_cycle is LifeCycle.TERMINATED


def test_revoke_with_reason_and_effective_time(world: World) -> None:
    number, reader, _ = _issue(world)
    effective = NOW + dt.timedelta(days=1)
    view = revoke_permit(
        world.register, number, "lost", effective_at=effective, actor="officer", now=NOW
    )
    assert view.state is PermitState.REVOKED
    verifier = Verifier(world.issuer.trust, revocation=register_revocation(world.register))
    assert verify_card(world.cards, reader, verifier, NOW, register=world.register).passed
    after = verify_card(world.cards, reader, verifier, effective, register=world.register)
    assert not after.passed


def test_reconcile_leaves_recent_issuances_of_live_processes_alone(world: World) -> None:
    from card_service.workflows import SimulatedCrash, reconcile
    from card_service.workflows.progress import crash_at

    card = world.new_card()
    reader = world.driver.insert(0, card)
    app, app_id = world.application()
    with pytest.raises(SimulatedCrash):
        world.workflow(hook=crash_at(3)).issue(app, app_id, reader, NOW)
    assert (
        reconcile(
            world.register, world.issuer, world.cards, NOW, older_than=dt.timedelta(minutes=10)
        )
        == []
    )
    assert len(world.register.pending_issuances()) == 1
    later = NOW + dt.timedelta(minutes=11)
    outcomes = reconcile(
        world.register, world.issuer, world.cards, later, older_than=dt.timedelta(minutes=10)
    )
    assert [o.action for o in outcomes] == ["rolled_back"]
    assert card.life_cycle is LifeCycle.BLANK  # wiped


def test_every_verification_for_a_relying_party_is_audited(world: World) -> None:
    from sqlalchemy import select
    from sqlmodel import Session, col

    from card_service.audit.models import AuditEvent

    number, reader, app = _issue(world)
    verifier = Verifier(world.issuer.trust, revocation=register_revocation(world.register))
    verify_card(world.cards, reader, verifier, NOW, register=world.register, audit_actor="bank-1")
    revoke_permit(world.register, number, "stolen", effective_at=NOW, actor="officer", now=NOW)
    later = NOW + dt.timedelta(minutes=5)
    check = verify_card(
        world.cards, reader, verifier, later, register=world.register, audit_actor="bank-1"
    )
    assert not check.passed
    with Session(world.engine) as session:
        rows = list(
            session.execute(
                select(AuditEvent)
                .where(col(AuditEvent.action) == "permit.verify")
                .order_by(col(AuditEvent.seq))
            ).scalars()
        )
    assert [(r.actor, r.permit_number) for r in rows] == [("bank-1", number)] * 2
    assert rows[0].result == "passed"
    assert rows[1].result.startswith("failed:") and "register_revoked" in rows[1].result
    # nothing personal in the log: no ID number, no name
    for r in rows:
        assert app.citizen_id not in r.result and app.full_name not in r.result  # type: ignore[attr-defined]


def test_the_card_carries_only_the_registers_application(world: World) -> None:
    """A file that is not the stored application (another person, another portrait...) is
    refused before anything changes: no reservation, a blank card, the old permit intact."""
    import dataclasses

    from card_service.workflows.application import synthetic_application

    stranger = synthetic_application(NOW, seed=10_000, portrait_bytes=4_000)
    app, app_id = world.application()
    card = world.new_card()
    reader = world.driver.insert(0, card)
    with pytest.raises(IssuanceError) as info:
        world.workflow().issue(stranger, app_id, reader, NOW)
    assert info.value.code == "application_mismatch"
    assert "citizen_id" in str(info.value) and stranger.citizen_id not in str(info.value)
    new_portrait = dataclasses.replace(app, portrait=stranger.portrait)
    with pytest.raises(IssuanceError, match="portrait"):
        world.workflow().issue(new_portrait, app_id, reader, NOW)
    assert world.register.pending_issuances() == []
    assert card.life_cycle is LifeCycle.BLANK
    with pytest.raises(IssuanceError) as info:
        world.workflow().issue(app, 999_999, reader, NOW)
    assert info.value.code == "application_unknown"

    number = world.workflow().issue(app, app_id, reader, NOW).permit_number
    world.driver.remove(0)
    fresh = world.new_card()
    world.driver.insert(0, fresh)
    with pytest.raises(IssuanceError) as info:
        replace_permit(world.workflow(), number, "lost", stranger, reader, NOW)
    assert info.value.code == "application_mismatch"
    assert world.register.permit(number).state is PermitState.ISSUED
    assert fresh.life_cycle is LifeCycle.BLANK
