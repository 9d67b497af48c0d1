"""One application, one card, even under a race (issue 9, section 2).

Two officers issue the same approved application on two blank cards at the same moment.
The only allowed outcome is one success, one clean refusal with the loser's card unlocked,
one live permit and consistent audit entries (see ``tests/workflows/race.py``).  Rounds run
with two threads in one process and with two separate service processes sharing the
register, on SQLite and on PostgreSQL.

Each round starts the second caller together with the first (a barrier) or when the first
reaches a given step, cycling over all steps (``race.stagger``).  Measured on the code
before the fix: threads, 100 rounds, 75 % failed on SQLite and 46 % on PostgreSQL; two
processes, 30 rounds, 50 % and 53 % (double successes with two PIN letters, the loser's
card locked, untyped ``InvalidState``); with lock-step starts only, 300 rounds: 67 % on
SQLite, 2 % on PostgreSQL.  So 20 rounds miss the old bug with probability below 1e-5
(threads) and 1e-6 (processes); ``test_replace_decided_from_a_lock_pending_read`` forces
the two interleavings that issued twice or revoked a confirmed permit.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from card_service.audit.verify import verify_audit_log
from card_service.card.wire import LifeCycle
from card_service.register.service import Register
from card_service.register.views import Reservation
from card_service.workflows import IssuanceError, IssuanceWorkflow, Step
from card_service.workflows.card_state import serial_text
from simulators.card import SimulatedCard
from tests.workflows.conftest import NOW, World, make_world
from tests.workflows.race import (
    ALLOWED_REFUSALS,
    Outcome,
    issue_once,
    round_problems,
    signal_at,
    stagger,
)

THREAD_ROUNDS = int(os.environ.get("PERMIT_RACE_ROUNDS", "20"))
PROCESS_ROUNDS = int(os.environ.get("PERMIT_RACE_PROCESS_ROUNDS", "20"))


def _audit_ok(world: World) -> None:
    from sqlmodel import Session

    with Session(world.engine) as session:
        report = verify_audit_log(session, None, NOW)
    assert report.ok, report


def _race_round(
    world: World, pool: ThreadPoolExecutor, start_at: Step | None = None
) -> tuple[int, list[Outcome], list[SimulatedCard]]:
    app, app_id = world.application()
    cards = [world.new_card(), world.new_card()]
    readers = [world.driver.insert(i, card) for i, card in enumerate(cards)]
    go: threading.Barrier | threading.Event
    if start_at is None:
        go = threading.Barrier(2)
        jobs = [(world.workflow(), go, None), (world.workflow(), go, None)]
    else:
        go = threading.Event()
        jobs = [
            (world.workflow(hook=signal_at(start_at, go)), None, go),
            (world.workflow(), go, None),
        ]
    futures = [
        pool.submit(issue_once, workflow, app, app_id, readers[i], cards[i], NOW, start, done)
        for i, (workflow, start, done) in enumerate(jobs)
    ]
    outcomes = [f.result(timeout=120) for f in futures]
    for i in range(2):
        world.driver.remove(i)
    return app_id, outcomes, cards


def test_same_application_on_two_cards_with_threads(world: World) -> None:
    failures: list[tuple[int, str | None, list[str]]] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for n, start_at in enumerate(stagger(THREAD_ROUNDS)):
            app_id, outcomes, _ = _race_round(world, pool, start_at)
            problems = round_problems(world.engine, app_id, outcomes)
            if problems:
                failures.append((n, start_at and start_at.value, problems))
    assert failures == [], f"{len(failures)}/{THREAD_ROUNDS} rounds failed: {failures[:8]}"
    _audit_ok(world)


def test_same_application_on_two_cards_in_two_processes(db_url: str) -> None:
    from tests.workflows import race_worker

    world = make_world(db_url)
    ctx = multiprocessing.get_context("spawn")
    barrier, go = ctx.Barrier(2), ctx.Event()
    pipes = [ctx.Pipe() for _ in range(2)]
    procs = [
        ctx.Process(
            target=race_worker.serve, args=(db_url, i == 0, child, barrier, go), daemon=True
        )
        for i, (_, child) in enumerate(pipes)
    ]
    for proc in procs:
        proc.start()
    failures: list[tuple[int, str | None, list[str]]] = []
    try:
        for parent, _ in pipes:
            assert parent.poll(120) and parent.recv() == "ready"
        for n, start_at in enumerate(stagger(PROCESS_ROUNDS)):
            _, app_id = world.application()
            go.clear()
            for parent, _ in pipes:
                parent.send((world.seed, app_id, start_at and start_at.value))
            outcomes: list[Outcome] = []
            for parent, _ in pipes:
                assert parent.poll(120), "a race worker hung"
                outcomes.append(parent.recv())
            problems = round_problems(world.engine, app_id, outcomes)
            if problems:
                failures.append((n, start_at and start_at.value, problems))
        for parent, _ in pipes:
            parent.send(None)
        for proc in procs:
            proc.join(60)
            assert proc.exitcode == 0
        _audit_ok(world)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        world.close()
    assert failures == [], f"{len(failures)}/{PROCESS_ROUNDS} rounds failed: {failures[:8]}"


# -- the interleavings that broke, forced -------------------------------------------------


def _paused_at(step: Step, reached: threading.Event, go: threading.Event) -> Callable[[Step], None]:
    def hook(current: Step) -> None:
        if current is step:
            reached.set()
            assert go.wait(60)

    return hook


class _DecidingRegister(Register):
    """The rival's register: says when the rival has decided, from its earlier read, to
    replace the lock-pending permit, and holds it there until ``proceed``."""

    def __init__(self, world: World, deciding: threading.Event, proceed: threading.Event) -> None:
        super().__init__(world.engine, authority_code=world.register.authority_code)
        self.deciding, self.proceed = deciding, proceed

    def replace(self, *args: Any, **kwargs: Any) -> Reservation:
        self.deciding.set()
        assert self.proceed.wait(60)
        return super().replace(*args, **kwargs)


@pytest.mark.parametrize("first_to_act", ["rival_replaces", "first_locks"])
def test_replace_decided_from_a_lock_pending_read(world: World, first_to_act: str) -> None:
    """The first caller is verified (register ISSUED, lock pending) and pauses before
    locking its card; the second reads the lock-pending permit and decides to replace it
    onto its own card.  Then either the replace is carried out first (the first caller
    must not lock its card: its permit is replaced) or the first caller locks and confirms
    first (the replace must not revoke a permit whose card lock is confirmed).  On the old
    code the first order gave two successes and the second a revoked, locked card."""
    app, app_id = world.application()
    cards = [world.new_card(), world.new_card()]
    readers = [world.driver.insert(i, card) for i, card in enumerate(cards)]
    reached, go, deciding, proceed = (threading.Event() for _ in range(4))
    rival = IssuanceWorkflow(
        _DecidingRegister(world, deciding, proceed),
        world.issuer,
        world.cards,
        verifier=world.verifier,
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(
            issue_once,
            world.workflow(hook=_paused_at(Step.LOCK, reached, go)),
            app,
            app_id,
            readers[0],
            cards[0],
            NOW,
        )
        assert reached.wait(60)
        second = pool.submit(issue_once, rival, app, app_id, readers[1], cards[1], NOW)
        while not (deciding.wait(0.05) or second.done()):
            pass
        assert deciding.is_set(), second.result()  # the rival decided to replace
        if first_to_act == "rival_replaces":
            proceed.set()
            second.result(timeout=60)
            go.set()
        else:
            go.set()
            first.result(timeout=60)
            proceed.set()
        outcomes = [first.result(timeout=60), second.result(timeout=60)]
    assert round_problems(world.engine, app_id, outcomes) == []
    winner = 1 if first_to_act == "rival_replaces" else 0
    assert outcomes[winner].won and outcomes[1 - winner].code == "concurrent_issuance"
    assert cards[1 - winner].life_cycle is not LifeCycle.ISSUED
    _audit_ok(world)


def test_the_loser_card_is_reusable(world: World) -> None:
    """After a lost race the loser's card (blank or half-written, never locked) takes the
    next application's permit."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        _, outcomes, cards = _race_round(world, pool)
    index = next(i for i, o in enumerate(outcomes) if not o.won)
    assert outcomes[index].code in ALLOWED_REFUSALS
    card = cards[index]
    assert card.life_cycle is not LifeCycle.ISSUED
    reader = world.driver.insert(0, card)
    app, app_id = world.application()
    result = world.workflow().issue(app, app_id, reader, NOW)
    assert card.life_cycle is LifeCycle.ISSUED and result.card_serial == serial_text(card.serial)


def test_mark_issued_of_an_abandoned_reservation_is_a_clean_refusal(world: World) -> None:
    """The loser's ``mark_issued`` fails (its reservation was abandoned by the other
    caller's retry logic) with a typed refusal, and its card stays unlocked."""
    app, app_id = world.application()
    first, second = world.new_card(), world.new_card()
    readers = [world.driver.insert(0, first), world.driver.insert(1, second)]

    def abandon_mine(current: Step) -> None:
        if current is Step.MARK_ISSUED:
            for r in world.register.pending_issuances(application_id=app_id):
                world.register.abandon(r.permit_number, "retry", NOW, "rival")

    with pytest.raises(IssuanceError) as raised:
        world.workflow(hook=abandon_mine).issue(app, app_id, readers[0], NOW)
    assert raised.value.code == "concurrent_issuance"
    assert first.life_cycle is LifeCycle.PERSONALISING
    result = world.workflow().issue(app, app_id, readers[1], NOW)
    assert second.life_cycle is LifeCycle.ISSUED and result.pin is not None
