"""The PIN letter of an issuance whose card was pulled at the lock step (issue 11).

An issuance that ends lock pending never returned its result, so its PIN and PUK were never
shown.  Resuming it with the card sets a fresh PIN and PUK (issuer channel) before locking
and returns them; the card accepts the new PIN and not the first attempt's; the register's
transaction records ``card.pin_reset`` (no PIN in it); nothing with a PIN reaches the logs.
Start-up reconciliation, with nobody to show a letter to, leaves such a card unlocked for
the officer's resume (docs/workflows.md, "PIN letter of a resumed issuance").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from card_service.audit import AuditEvent
from card_service.card.errors import WrongPin
from card_service.card.session import PermitCardSession
from card_service.card.wire import LifeCycle
from card_service.workflows import issuance_common, reconcile
from card_service.workflows.issuance import IssuanceError, IssuanceResult
from simulators.card import SimulatedCard
from tests.secretlog import SecretLog, card_secrets
from tests.workflows.conftest import NOW, World
from tests.workflows.helpers import CountingCard, card_passes, check_invariants


def _issuance_apdus(world: World) -> int:
    """APDUs of a full issuance; the last one is the lock (SET STATUS ISSUED)."""
    counting = CountingCard(world.new_card())
    reader = world.driver.insert(0, counting)
    app, app_id = world.application()
    world.workflow().issue(app, app_id, reader, NOW)
    world.driver.remove(0)
    return int(counting.count)


def _pulled_at_lock(
    world: World, n: int, phase: str = "before"
) -> tuple[SimulatedCard, object, int]:
    """A new application issued onto a new card that is pulled at the lock: register ISSUED,
    lock pending; the card PERSONALISING with the verified record and the first PIN
    (``phase="after"``: pulled after the card executed the lock, before it answered)."""
    app, app_id = world.application()
    card = world.new_card()
    reader = world.driver.insert(0, card)
    card.faults.cut_power(after_apdus=n, phase=phase)
    with pytest.raises(IssuanceError) as info:
        world.workflow().issue(app, app_id, reader, NOW)
    card.faults.clear()
    world.driver.remove(0)
    assert info.value.code == "lock_pending", info.value.code
    locked = phase == "after"
    assert card.life_cycle is (LifeCycle.ISSUED if locked else LifeCycle.PERSONALISING)
    assert [v.application_id for v in world.register.lock_pending()] == [app_id]
    return card, app, app_id


@contextmanager
def _session(world: World, card: SimulatedCard) -> Iterator[PermitCardSession]:
    reader = world.driver.insert(0, card)
    conn = world.driver.connect(reader)
    try:
        session = PermitCardSession(conn)
        session.select()
        yield session
    finally:
        conn.disconnect()
        world.driver.remove(0)


def _audit(world: World, number: str) -> list[AuditEvent]:
    with Session(world.engine) as session:
        stmt = select(AuditEvent).where(col(AuditEvent.permit_number) == number)
        return list(session.execute(stmt.order_by(col(AuditEvent.seq))).scalars())


def _resume(world: World, card: SimulatedCard, app: object, app_id: int) -> IssuanceResult:
    reader = world.driver.insert(0, card)
    try:
        return world.workflow().issue(app, app_id, reader, NOW)  # type: ignore[arg-type]
    finally:
        world.driver.remove(0)


def test_resume_after_the_card_was_pulled_at_the_lock_returns_a_new_pin_letter(
    world: World, secret_log: SecretLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_log.secret("master_key", world.master_key)
    n = _issuance_apdus(world)
    generated: list[str] = []
    original = issuance_common.random_digits

    def spy(count: int) -> str:
        value = original(count)
        if count == 6:
            generated.append(value)
        return value

    # both the first attempt's PIN (issuance) and the resume's (issuance_common)
    monkeypatch.setattr("card_service.workflows.issuance.random_digits", spy)
    monkeypatch.setattr("card_service.workflows.issuance_common.random_digits", spy)
    card, app, app_id = _pulled_at_lock(world, n)
    assert len(generated) == 1
    first_pin = generated[0]
    check_invariants(world, [card])

    result = _resume(world, card, app, app_id)

    assert result.resumed and result.pin is not None and result.puk is not None
    assert len(result.pin) == 6 and len(result.puk) == 8
    assert generated == [first_pin, result.pin]
    assert result.pin not in repr(result) and result.puk not in repr(result)
    assert card.life_cycle is LifeCycle.ISSUED and card_passes(world, card)
    assert world.register.lock_pending() == []
    check_invariants(world, [card])
    with _session(world, card) as session:
        if first_pin != result.pin:  # 1 in 10**6: the fresh PIN equals the lost one
            with pytest.raises(WrongPin):
                session.verify_pin(first_pin)
        session.verify_pin(result.pin)  # the letter's PIN opens the card
        session.unblock_pin(result.puk)  # and its PUK is the card's
    entries = _audit(world, result.permit_number)
    actions = [e.action for e in entries]
    assert actions.count("card.pin_reset") == 1 and actions.count("card.lock") == 1
    assert actions.index("card.pin_reset") < actions.index("card.lock")
    reset = entries[actions.index("card.pin_reset")]
    assert (reset.actor, reset.result) == (world.issuer.actor, "ok")
    for entry in entries:  # no PIN or PUK in any field of the permit's audit trail
        text = f"{entry.actor} {entry.action} {entry.result} {entry.permit_number}"
        assert first_pin not in text and result.pin not in text and result.puk not in text
    card_secrets(secret_log, card)
    secret_log.assert_clean(require=["pin", "puk", "pin_block", "puk_block", "card_pin"])


def test_reconciliation_leaves_an_unlocked_card_for_the_officers_resume(world: World) -> None:
    """Nobody is present at start-up: the card is not locked with a PIN nobody saw."""
    n = _issuance_apdus(world)
    card, app, app_id = _pulled_at_lock(world, n)
    number = world.register.lock_pending()[0].number
    reader = world.driver.insert(0, card)
    outcomes = reconcile(world.register, world.issuer, world.cards, NOW)
    world.driver.remove(0)
    assert [(o.permit_number, o.action, o.application_id) for o in outcomes] == [
        (number, "lock_pending_new_pin_letter", app_id)
    ]
    assert card.life_cycle is LifeCycle.PERSONALISING and reader
    assert [v.number for v in world.register.lock_pending()] == [number]
    assert "card.lock" not in [e.action for e in _audit(world, number)]
    check_invariants(world, [card])
    # the officer's resume: the new PIN letter, the card locked
    result = _resume(world, card, app, app_id)
    assert (result.permit_number, result.resumed) == (number, True)
    assert result.pin is not None and result.puk is not None
    locked: LifeCycle = card.life_cycle  # (mypy narrowed it to PERSONALISING above)
    assert locked is LifeCycle.ISSUED and world.register.lock_pending() == []
    with _session(world, card) as session:
        session.verify_pin(result.pin)


@pytest.mark.parametrize("how", ["resume", "reconcile"])
def test_a_card_locked_before_its_letter_was_shown_is_reported_as_letter_lost(
    world: World, how: str
) -> None:
    """Pulled after the card executed the lock: its PIN cannot be reset (issuer PIN setting
    only while PERSONALISING), so the lock is confirmed and the outcome says the letter is
    lost - never a silent success."""
    n = _issuance_apdus(world)
    card, app, app_id = _pulled_at_lock(world, n, phase="after")
    number = world.register.lock_pending()[0].number
    if how == "reconcile":
        world.driver.insert(0, card)
        outcomes = reconcile(world.register, world.issuer, world.cards, NOW)
        world.driver.remove(0)
        assert [(o.permit_number, o.action) for o in outcomes] == [
            (number, "confirmed_pin_letter_lost")
        ]
    else:
        result = _resume(world, card, app, app_id)
        assert (result.permit_number, result.resumed) == (number, True)
        assert result.pin is None and result.puk is None and result.pin_letter_lost
    assert world.register.lock_pending() == [] and card_passes(world, card)
    assert "card.pin_reset" not in [e.action for e in _audit(world, number)]
    check_invariants(world, [card])
