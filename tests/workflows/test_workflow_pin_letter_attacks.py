"""Attacks on the new PIN letter of a resumed lock-pending issuance (issue 11 review).

* A copy of the victim's half-personalised card (its serial and record, other keys) must
  not get a fresh PIN: the card is authenticated (SCP03 issuer channel, then INTERNAL
  AUTHENTICATE against the record's device key) before any PIN is set, and nothing is
  recorded.
* The card pulled at any APDU of the resume itself (the PIN reset included, half-set PIN):
  the outcome is a typed error, the permit stays lock pending or is confirmed, and the next
  resume ends with a PIN letter the card accepts - or says the letter is lost when the card
  locked itself before answering.
"""

from __future__ import annotations

import itertools
import os

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from card_service.audit import AuditEvent
from card_service.card.scp03 import diversify_card_keys
from card_service.card.wire import FileId, LifeCycle
from card_service.workflows import issuance_common
from card_service.workflows.issuance import IssuanceError
from simulators.card import SimulatedCard
from tests.workflows.conftest import NOW, World
from tests.workflows.helpers import CountingCard, card_passes, check_invariants
from tests.workflows.test_workflow_card_auth import COPY_KINDS, _snapshot
from tests.workflows.test_workflow_pin_letter import _issuance_apdus, _pulled_at_lock, _session


def _half_copy(world: World, victim: SimulatedCard, kind: str) -> SimulatedCard:
    """An emulator with the victim's serial and EF.Record, PERSONALISING like the victim
    (pulled at the lock), with its own card key; ``victim_scp03_keys``: it even has the
    victim's static keys (so only INTERNAL AUTHENTICATE can tell it apart)."""
    with _session(world, victim) as session:
        record = session.read_file(FileId.RECORD)
    master = world.master_key if kind == "victim_scp03_keys" else os.urandom(16)
    copy = SimulatedCard.manufacture(
        master_keys={world.kvn: master}, kvn=world.kvn, serial=victim.serial, durable=False
    )
    with _session(world, copy) as session:
        session.open_issuer_channel(lambda serial, kvn: diversify_card_keys(master, serial, kvn))
        session.begin_personalisation()
        session.generate_card_key()
        session.write_file(FileId.RECORD, record)
        session.set_pin("123456")
        session.set_puk("12345678")
    assert copy.life_cycle is LifeCycle.PERSONALISING
    return copy


def _actions(world: World, number: str) -> list[str]:
    with Session(world.engine) as s:
        stmt = select(col(AuditEvent.action)).where(col(AuditEvent.permit_number) == number)
        return list(s.execute(stmt.order_by(col(AuditEvent.seq))).scalars())


@pytest.mark.parametrize("kind", COPY_KINDS)
def test_resuming_onto_a_copy_of_a_half_card_sets_no_pin(
    world: World, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = _issuance_apdus(world)
    victim, app, app_id = _pulled_at_lock(world, n)
    copy = _half_copy(world, victim, kind)
    pins_before = (copy._store.state.pin, copy._store.state.puk)
    resets: list[object] = []
    original = issuance_common.new_pin_letter

    def spy(*args: object, **kwargs: object) -> tuple[str, str]:
        resets.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("card_service.workflows.issuance.new_pin_letter", spy)
    before = _snapshot(world)
    reader = world.driver.insert(0, copy)
    with pytest.raises(IssuanceError) as raised:
        world.workflow().issue(app, app_id, reader, NOW)  # type: ignore[arg-type]
    world.driver.remove(0)
    assert raised.value.code in ("card_unauthenticated", "verify_failed"), raised.value.code
    assert resets == []  # no PIN was generated for the copy
    assert (copy._store.state.pin, copy._store.state.puk) == pins_before
    assert copy.life_cycle is LifeCycle.PERSONALISING
    assert _snapshot(world) == before
    # the genuine card still resumes, with its letter
    reader = world.driver.insert(0, victim)
    result = world.workflow().issue(app, app_id, reader, NOW)  # type: ignore[arg-type]
    world.driver.remove(0)
    assert result.pin is not None and len(resets) == 1


def _resume_apdus(world: World) -> int:
    n = _issuance_apdus(world)
    card, app, app_id = _pulled_at_lock(world, n)
    counting = CountingCard(card)
    reader = world.driver.insert(0, counting)
    result = world.workflow().issue(app, app_id, reader, NOW)  # type: ignore[arg-type]
    world.driver.remove(0)
    assert result.pin is not None
    return int(counting.count)


def test_card_pulled_at_any_apdu_of_the_resume(world: World) -> None:
    """Every APDU of the resume (channel, read-back, CHANGE REFERENCE DATA of PIN and PUK,
    SET STATUS), before and after the card executes it."""
    n = _issuance_apdus(world)
    m = _resume_apdus(world)
    assert 5 <= m <= 100, m
    codes: dict[str, int] = {}
    lost = 0
    for k, phase in itertools.product(range(1, m + 1), ("before", "after")):
        card, app, app_id = _pulled_at_lock(world, n)
        number = world.register.lock_pending()[0].number
        reader = world.driver.insert(0, card)
        card.faults.cut_power(after_apdus=k, phase=phase)
        with pytest.raises(IssuanceError) as raised:
            world.workflow().issue(app, app_id, reader, NOW)  # type: ignore[arg-type]
        card.faults.clear()
        world.driver.remove(0)
        code = raised.value.code
        assert code == "card_failed", (k, phase, code)
        codes[code] = codes.get(code, 0) + 1
        assert "card.pin_reset" not in _actions(world, number), (k, phase)
        assert [v.number for v in world.register.lock_pending()] == [number], (k, phase)
        assert not card_passes(world, card) or card.life_cycle is LifeCycle.ISSUED
        check_invariants(world, [card])
        # the officer tries again with the card: a letter that opens it, or "lost"
        reader = world.driver.insert(0, card)
        result = world.workflow().issue(app, app_id, reader, NOW)  # type: ignore[arg-type]
        world.driver.remove(0)
        assert result.permit_number == number and result.resumed, (k, phase)
        assert world.register.lock_pending() == [] and card_passes(world, card), (k, phase)
        if result.pin_letter_lost:
            lost += 1
            assert result.pin is None and "card.pin_reset" not in _actions(world, number)
        else:
            assert result.pin is not None and result.puk is not None
            assert _actions(world, number).count("card.pin_reset") == 1, (k, phase)
            with _session(world, card) as session:
                session.verify_pin(result.pin)
                session.unblock_pin(result.puk)
        check_invariants(world, [card])
    # only a card that executed the lock and was pulled before answering loses its letter
    assert lost == 1, lost
