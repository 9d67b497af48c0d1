"""Crash safety by enumeration (docs/workflows.md, "Crash safety").

* a power cut at every APDU k = 1..N of a full issuance, in each tear phase, then a retry on
  the same card (wiped when half-written) and, separately, on a fresh card;
* a process kill (``SimulatedCrash``) at every step boundary, then startup reconciliation
  by a fresh workflow object, then a retry on the same card and on a fresh card.

Invariants (a) and (b) are checked after the failure and after the retry; (c) is the retry
succeeding; (d) is the half-written card being classified and wiped.
"""

from __future__ import annotations

import itertools

import pytest

from card_service.card.session import PermitCardSession
from card_service.card.wire import LifeCycle
from card_service.register.models import PermitState
from card_service.workflows import CardCondition, SimulatedCrash, classify_card, reconcile
from card_service.workflows.issuance import IssuanceError
from card_service.workflows.progress import ISSUANCE_STEPS, crash_at
from reader_drivers.errors import ReaderError
from simulators.card import SimulatedCard
from tests.workflows.conftest import NOW, World
from tests.workflows.helpers import CountingCard, card_passes, check_invariants

PHASES = ("before", "mid", "after")


def _measure(world: World) -> int:
    counting = CountingCard(world.new_card())
    reader = world.driver.insert(0, counting)
    app, app_id = world.application()
    world.workflow().issue(app, app_id, reader, NOW)
    world.driver.remove(0)
    return counting.count


def _eject(world: World) -> None:
    world.driver.remove(0)


def _recognise_and_wipe(world: World, card: SimulatedCard) -> None:
    """(d): a half-written card is classified as such and can be wiped."""
    reader = world.driver.insert(0, card)
    try:
        conn = world.driver.connect(reader)
        session = PermitCardSession(conn)
        status = classify_card(session)
        if card.life_cycle is LifeCycle.PERSONALISING:
            assert status.condition is CardCondition.HALF_PERSONALISED
            session.open_issuer_channel(world.issuer.key_provider)
            session.wipe()
            assert classify_card(session).condition is CardCondition.BLANK
        conn.disconnect()
    finally:
        _eject(world)


def _retry(world: World, app: object, app_id: int, card: SimulatedCard) -> None:
    reader = world.driver.insert(0, card)
    try:
        result = world.workflow().issue(app, app_id, reader, NOW)  # type: ignore[arg-type]
    finally:
        _eject(world)
    assert card.life_cycle is LifeCycle.ISSUED
    assert world.register.permit(result.permit_number).state is PermitState.ISSUED
    assert card_passes(world, card)


def test_power_cut_at_every_apdu(world: World) -> None:
    n, cases = _enumerate(world, PHASES, ("same", "fresh"))
    print(f"power-cut enumeration: N={n} APDUs, {cases} cases")
    assert cases == n * len(PHASES) * 2


def _enumerate(world: World, phases: tuple[str, ...], modes: tuple[str, ...]) -> tuple[int, int]:
    n = _measure(world)
    assert 15 <= n <= 200, n
    cases = 0
    for k, phase, mode in itertools.product(range(1, n + 1), phases, modes):
        app, app_id = world.application()
        card = world.new_card()
        reader = world.driver.insert(0, card)
        card.faults.cut_power(after_apdus=k, phase=phase)
        with pytest.raises((IssuanceError, ReaderError)):
            world.workflow().issue(app, app_id, reader, NOW)
        card.faults.clear()
        _eject(world)
        check_invariants(world, [card])
        if mode == "same":
            _retry(world, app, app_id, card)
            check_invariants(world, [card])
        else:
            fresh = world.new_card()
            _retry(world, app, app_id, fresh)
            check_invariants(world, [card, fresh])
            _recognise_and_wipe(world, card)
            check_invariants(world, [card, fresh])
        cases += 1
    return n, cases


@pytest.mark.parametrize("boundary", range(len(ISSUANCE_STEPS)))
@pytest.mark.parametrize("mode", ["same", "fresh", "absent"])
def test_process_kill_between_steps(world: World, boundary: int, mode: str) -> None:
    app, app_id = world.application()
    card = world.new_card()
    reader = world.driver.insert(0, card)
    with pytest.raises(SimulatedCrash):
        world.workflow(hook=crash_at(boundary)).issue(app, app_id, reader, NOW)
    check_invariants(world, [card])
    if mode == "absent":
        _eject(world)  # the card left with the crashed process
    # startup reconciliation in a "new process": a fresh workflow object
    outcomes = reconcile(world.register, world.issuer, world.cards, NOW)
    check_invariants(world, [card])
    assert world.register.pending_issuances() == []
    if mode != "absent":
        # with the card at hand nothing stays pending but an unlocked card whose PIN letter
        # was never shown: reconciliation leaves it for the officer's resume (new letter)
        pending = [v.number for v in world.register.lock_pending()]
        waiting = [o.permit_number for o in outcomes if o.action == "lock_pending_new_pin_letter"]
        assert pending == waiting, outcomes
        assert not waiting or card.life_cycle is LifeCycle.PERSONALISING, outcomes
    if mode != "absent" and card.life_cycle is LifeCycle.ISSUED:
        assert all(o.action == "confirmed_pin_letter_lost" for o in outcomes), outcomes
    if mode == "same":
        _eject(world)
        _retry(world, app, app_id, card)
        check_invariants(world, [card])
    else:
        _eject(world)
        fresh = world.new_card()
        if mode == "fresh" and card.life_cycle is LifeCycle.ISSUED:
            # reconciliation completed the issuance on the first card: nothing to retry
            assert card_passes(world, card)
            world.driver.insert(0, fresh)
            with pytest.raises(IssuanceError) as info:
                world.workflow().issue(app, app_id, world.driver.reader_names[0], NOW)
            assert info.value.code == "active_permit_exists"
            assert fresh.life_cycle is LifeCycle.BLANK
            _eject(world)
            return
        _retry(world, app, app_id, fresh)
        check_invariants(world, [card, fresh])
        _recognise_and_wipe(world, card)
        check_invariants(world, [card, fresh])
