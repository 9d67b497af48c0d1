"""The double-issuance race harness: one approved application issued on two cards at once.

Used by ``test_workflow_race.py`` (threads) and ``race_worker.py`` (separate processes).
A round is two ``issue`` calls for the same application, each on its own blank card,
released together or with the second started when the first reaches a given step.  The
only allowed outcome (docs/workflows.md, "Concurrent issuance"): exactly one success with
a PIN letter, one clean refusal (an ``IssuanceError`` with a code in
:data:`ALLOWED_REFUSALS`), the loser's card not locked, one live permit (ISSUED, lock
confirmed, on the winner's card) and audit entries that say exactly that.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from card_service.audit.models import AuditEvent
from card_service.card.wire import LifeCycle
from card_service.register.models import Application, Permit, PermitState
from card_service.workflows import IssuanceError
from card_service.workflows.application import PermitApplication
from card_service.workflows.card_state import serial_text
from card_service.workflows.issuance import IssuanceWorkflow
from card_service.workflows.progress import ISSUANCE_STEPS, Step, StepHook

__all__ = [
    "ALLOWED_REFUSALS",
    "Outcome",
    "issue_once",
    "round_problems",
    "signal_at",
    "stagger",
]

#: The stable codes a loser of the race may get.
ALLOWED_REFUSALS = frozenset({"active_permit_exists", "concurrent_issuance"})


class _Card(Protocol):
    @property
    def serial(self) -> bytes: ...

    @property
    def life_cycle(self) -> LifeCycle: ...


@dataclass(frozen=True)
class Outcome:
    """What one caller saw, and its card afterwards."""

    serial: str
    life_cycle: str
    permit_number: str | None = None
    record_digest: str | None = None
    pin_letter: bool = False
    code: str | None = None
    #: An exception that is not a clean refusal (its type name), or a refusal's detail.
    unexpected: str | None = None

    @property
    def won(self) -> bool:
        return self.permit_number is not None and self.code is None


class _Waitable(Protocol):
    def wait(self, timeout: float | None = None) -> object: ...


class _Settable(Protocol):
    def set(self) -> None: ...


def stagger(rounds: int) -> list[Step | None]:
    """The start of the second caller in each round: together (``None``, a barrier) or when
    the first reaches a step, cycling over every step - so the rival's decisions fall in
    every window of the first caller's issuance, not only where lock-step starts put them."""
    starts: list[Step | None] = [None, *ISSUANCE_STEPS]
    return [starts[n % len(starts)] for n in range(rounds)]


def signal_at(step: Step | None, event: _Settable) -> StepHook | None:
    """A hook for the first caller that releases the second when ``step`` starts."""
    if step is None:
        return None

    def hook(current: Step) -> None:
        if current is step:
            event.set()

    return hook


def issue_once(
    workflow: IssuanceWorkflow,
    application: PermitApplication,
    application_id: int,
    reader: str,
    card: _Card,
    now: dt.datetime,
    start: _Waitable | None = None,
    done: _Settable | None = None,
) -> Outcome:
    """Wait for ``start`` (a barrier or an event), issue, set ``done`` and report (never
    raises: a stray error is an outcome that fails the round)."""
    if start is not None:
        start.wait(120)
    try:
        return _issue(workflow, application, application_id, reader, card, now)
    finally:
        if done is not None:
            done.set()


def _issue(
    workflow: IssuanceWorkflow,
    application: PermitApplication,
    application_id: int,
    reader: str,
    card: _Card,
    now: dt.datetime,
) -> Outcome:
    serial = serial_text(card.serial)
    try:
        result = workflow.issue(application, application_id, reader, now)
    except IssuanceError as exc:
        return Outcome(serial, card.life_cycle.name, code=exc.code)
    except Exception as exc:  # reported, and fails the round
        return Outcome(serial, card.life_cycle.name, unexpected=type(exc).__name__)
    return Outcome(
        serial,
        card.life_cycle.name,
        result.permit_number,
        result.digests.record,
        pin_letter=result.pin is not None and result.puk is not None,
    )


def round_problems(engine: Engine, application_id: int, outcomes: list[Outcome]) -> list[str]:
    """Everything wrong with one round (empty when it ended as allowed)."""
    problems: list[str] = []
    winners = [o for o in outcomes if o.won]
    losers = [o for o in outcomes if not o.won]
    if len(winners) != 1:
        problems.append(f"{len(winners)} successes")
    if sum(o.pin_letter for o in outcomes) != 1:
        problems.append(f"{sum(o.pin_letter for o in outcomes)} PIN letters")
    for o in losers:
        if o.code not in ALLOWED_REFUSALS:
            problems.append(f"loser refused with {o.code or o.unexpected!r}")
        if o.life_cycle == LifeCycle.ISSUED.name:
            problems.append("the loser's card is locked")
    with Session(engine) as session:
        application = session.get(Application, application_id)
        assert application is not None
        permits = list(
            session.execute(
                select(Permit).where(col(Permit.applicant_id) == application.applicant_id)
            ).scalars()
        )
        numbers = [p.number for p in permits]
        events = list(
            session.execute(
                select(AuditEvent.permit_number, AuditEvent.action).where(
                    col(AuditEvent.permit_number).in_(numbers)
                )
            ).all()
        )
    live = [p for p in permits if p.state in (PermitState.RESERVED, PermitState.ISSUED)]
    if len(live) != 1:
        problems.append(f"{len(live)} live permits")
    elif winners:
        only, winner = live[0], winners[0]
        if only.state != PermitState.ISSUED or only.card_locked_at is None:
            problems.append("the live permit is not issued with a confirmed lock")
        if (only.number, only.card_serial, only.record_digest) != (
            winner.permit_number,
            winner.serial,
            winner.record_digest,
        ):
            problems.append("the live permit is not the winner's")
        if winner.life_cycle != LifeCycle.ISSUED.name:
            problems.append("the winner's card is not locked")
    problems += _audit_problems(permits, Counter((n, a) for n, a in events))
    return problems


def _audit_problems(permits: list[Permit], seen: Counter[tuple[str | None, str]]) -> list[str]:
    """Each permit's audit entries match its row: one reserve, one issue iff issued, one
    card.lock iff the lock is confirmed, a revoke iff revoked, an abandon iff abandoned."""
    problems = []
    for p in permits:
        want = {
            "permit.reserve": 1,
            "permit.issue": int(p.issued_at is not None),
            "card.lock": int(p.card_locked_at is not None),
            "permit.revoke": int(p.state == PermitState.REVOKED),
            "permit.abandon": int(p.state == PermitState.ABANDONED),
        }
        for action, count in want.items():
            if seen[(p.number, action)] != count:
                problems.append(f"audit: {seen[(p.number, action)]} x {action} for a {p.state}")
    return problems
