"""The register API: state machine, crash-safety hooks, uniqueness under concurrency."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import Session, col

from card_service.audit import AuditEvent, verify_audit_log
from card_service.record.schedule import first_endorsement_due
from card_service.register.errors import (
    ActivePermitExists,
    CardBusy,
    InvalidState,
    NotEligible,
)
from card_service.register.models import Card, Permit, PermitState
from card_service.register.permit_numbers import is_valid_permit_number
from card_service.register.service import Register
from tests.dbfixtures import NOW

from .helpers import (
    ADDRESS,
    NAME_PREFIX,
    applicant,
    application,
    approved,
    digest,
    issue,
    make_register,
)

LATER = NOW + dt.timedelta(hours=1)


def card_state(engine: Engine, serial: str) -> str:
    with Session(engine) as session:
        card = session.get(Card, serial)
        assert card is not None
        return card.state


def test_reserve_issue_is_idempotent_and_binds_the_card(db_engine: Engine) -> None:
    register = make_register(db_engine)
    app_id = approved(register, 1)
    reservation = register.reserve_permit(app_id, "CARD-A", NOW)
    assert is_valid_permit_number(reservation.permit_number)
    assert reservation.permit_number.startswith("3301062026")
    assert card_state(db_engine, "CARD-A") == "PERSONALISING"
    assert [r.permit_number for r in register.pending_issuances()] == [reservation.permit_number]

    view = register.mark_issued(reservation.permit_number, digest("m"), digest("r"), NOW)
    assert view.state is PermitState.ISSUED
    again = register.mark_issued(reservation.permit_number, digest("m"), digest("r"), LATER)
    assert again.issued_at == NOW  # retry is a no-op
    with pytest.raises(InvalidState):  # a different card cannot be claimed for it
        register.mark_issued(reservation.permit_number, digest("x"), digest("r"), LATER)
    assert register.pending_issuances() == []
    assert card_state(db_engine, "CARD-A") == "ISSUED"
    with pytest.raises(InvalidState):
        register.abandon(reservation.permit_number, "verify_failed", LATER)


def test_lock_pending_until_confirmed(db_engine: Engine) -> None:
    register = make_register(db_engine)
    first = register.reserve_permit(approved(register, 11), "CARD-L1", NOW)
    second = register.reserve_permit(approved(register, 12), "CARD-L2", NOW)
    with pytest.raises(InvalidState):  # RESERVED: nothing to confirm
        register.confirm_locked(first.permit_number, NOW)
    register.mark_issued(first.permit_number, digest("m1"), digest("r1"), NOW)
    register.mark_issued(second.permit_number, digest("m2"), digest("r2"), LATER)
    pending = register.lock_pending()
    assert [v.number for v in pending] == [first.permit_number, second.permit_number]
    assert all(v.lock_pending and v.card_locked_at is None for v in pending)
    assert [v.number for v in register.lock_pending(second.application_id)] == [
        second.permit_number
    ]

    register.confirm_locked(first.permit_number, LATER)
    register.confirm_locked(first.permit_number, LATER + dt.timedelta(hours=1))  # idempotent
    view = register.permit(first.permit_number)
    assert view.card_locked_at == LATER and not view.lock_pending
    assert [v.number for v in register.lock_pending()] == [second.permit_number]
    with Session(db_engine) as session:
        locks = session.execute(
            select(AuditEvent.permit_number).where(col(AuditEvent.action) == "card.lock")
        ).all()
    assert [row[0] for row in locks] == [first.permit_number]  # one entry, not two

    register.revoke(second.permit_number, "lost", LATER, "officer", LATER)
    assert register.lock_pending() == []  # a revoked permit is nothing to finish
    with pytest.raises(InvalidState):
        register.confirm_locked(second.permit_number, LATER)


def test_abandon_frees_card_and_application_for_a_retry(db_engine: Engine) -> None:
    register = make_register(db_engine)
    app_id = approved(register, 2)
    first = register.reserve_permit(app_id, "CARD-B", NOW)
    with pytest.raises(CardBusy):
        register.reserve_permit(approved(register, 3), "CARD-B", NOW)
    view = register.abandon(first.permit_number, "card_removed", LATER)
    assert view.state is PermitState.ABANDONED
    register.abandon(first.permit_number, "card_removed", LATER)  # idempotent
    assert card_state(db_engine, "CARD-B") == "BLANK"
    second = register.reserve_permit(app_id, "CARD-B", LATER)
    assert second.permit_number != first.permit_number
    with pytest.raises(InvalidState):
        register.mark_issued(first.permit_number, digest("m"), digest("r"), LATER)


def test_rejected_application_cannot_be_reserved(db_engine: Engine) -> None:
    register = make_register(db_engine)
    decision = register.submit_application(
        applicant(4), application(evidence=None), "officer-1", NOW
    )
    with pytest.raises(NotEligible) as info:
        register.reserve_permit(decision.application_id, "CARD-C", NOW)
    assert info.value.reasons == ("evidence_missing",)


def test_second_application_of_a_permit_holder_is_rejected(db_engine: Engine) -> None:
    register = make_register(db_engine)
    issue(register, 5)
    decision = register.submit_application(applicant(5), application(), "officer-1", LATER)
    assert decision.reasons == ("active_permit_exists",)


def test_one_active_permit_per_person_under_concurrency(db_engine: Engine) -> None:
    register = make_register(db_engine)
    apps = [approved(register, 6) for _ in range(8)]  # approved before any permit exists
    barrier = threading.Barrier(len(apps))

    def attempt(pair: tuple[int, int]) -> str:
        index, app_id = pair
        barrier.wait()
        try:
            return register.reserve_permit(app_id, f"CARD-P{index}", NOW).permit_number
        except ActivePermitExists:
            return "refused"

    with ThreadPoolExecutor(max_workers=len(apps)) as pool:
        results = list(pool.map(attempt, enumerate(apps)))
    assert len([r for r in results if r != "refused"]) == 1
    with Session(db_engine) as session:
        live = session.execute(select(Permit).where(col(Permit.state) == "RESERVED")).all()
        assert len(live) == 1


def test_the_database_refuses_a_second_live_permit_even_without_the_checks(
    db_engine: Engine,
) -> None:
    """The partial unique indexes hold even for a writer that skips the service checks."""
    register = make_register(db_engine)
    number = issue(register, 8, serial="CARD-D")
    with Session(db_engine) as session:
        permit = session.execute(select(Permit).where(col(Permit.number) == number)).scalar_one()
        columns = (
            "number, application_id, applicant_id, card_serial, state, residence_began, "
            "issue_date, first_endorsement_due, reserved_at"
        )
        values = {
            "a": permit.application_id,
            "p": permit.applicant_id,
            "d": permit.residence_began,
            "t": NOW.replace(tzinfo=None),
        }
        for card, person in (("CARD-D", 999), ("CARD-Z", permit.applicant_id)):
            if card == "CARD-Z":
                session.add(Card(serial="CARD-Z", state="BLANK", updated_at=NOW))
                session.commit()
            with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
                session.execute(
                    text(
                        f"INSERT INTO permit ({columns}) VALUES "
                        f"('X{card}', :a, :p, '{card}', 'RESERVED', :d, :d, :d, :t)"
                    ),
                    {**values, "p": person if card == "CARD-Z" else permit.applicant_id},
                )
                session.flush()
            session.rollback()


def test_revoke_replace_and_terminate(db_engine: Engine) -> None:
    register = make_register(db_engine)
    old = issue(register, 9, serial="CARD-OLD")
    with pytest.raises(ValueError):
        register.revoke(old, "replaced", NOW, "officer-1", LATER)
    reservation = register.replace(old, "damaged", "CARD-NEW", "officer-1", LATER)
    assert reservation.replaces_permit == old
    assert reservation.residence_began == register.permit(old).residence_began
    assert reservation.first_endorsement_due == first_endorsement_due(
        reservation.residence_began, reservation.issue_date
    )
    old_view = register.permit(old)
    assert (old_view.state, old_view.revocation_reason) == (PermitState.REVOKED, "replaced")
    with pytest.raises(InvalidState):  # a returned card still bound to a live permit
        register.terminate_card("CARD-NEW", "officer-1", LATER)
    register.terminate_card("CARD-OLD", "officer-1", LATER)
    with pytest.raises(CardBusy):
        register.reserve_permit(approved(register, 10), "CARD-OLD", LATER)
    register.mark_issued(reservation.permit_number, digest("m2"), digest("r2"), LATER)

    effective = LATER + dt.timedelta(days=1)
    view = register.revoke(reservation.permit_number, "stolen", effective, "officer-2", LATER)
    assert view.revocation_effective_at == effective
    assert register.effective_state(reservation.permit_number, LATER) == "ISSUED"
    assert register.effective_state(reservation.permit_number, effective) == "REVOKED"
    with pytest.raises(InvalidState):
        register.revoke(reservation.permit_number, "lost", effective, "officer-2", LATER)


def test_fifty_concurrent_issuances(db_engine: Engine) -> None:
    register = make_register(db_engine)
    apps = [approved(register, 100 + i) for i in range(50)]
    barrier = threading.Barrier(50)

    def issue_one(pair: tuple[int, int]) -> str:
        index, app_id = pair
        barrier.wait()
        reservation = register.reserve_permit(app_id, f"CARD-{index:03d}", NOW)
        register.mark_issued(
            reservation.permit_number, digest(reservation.permit_number), digest("r"), NOW
        )
        return reservation.permit_number

    with ThreadPoolExecutor(max_workers=50) as pool:
        numbers = list(pool.map(issue_one, enumerate(apps)))
    assert len(set(numbers)) == 50
    assert sorted(int(n[10:17]) for n in numbers) == list(range(1, 51))
    with Session(db_engine) as session:
        issued = (
            session.execute(select(Permit).where(col(Permit.state) == "ISSUED")).scalars().all()
        )
        assert len(issued) == 50
        assert {p.card_serial for p in issued} == {f"CARD-{i:03d}" for i in range(50)}
        assert all(p.mso_digest == digest(p.number) for p in issued)
        report = verify_audit_log(session, None, NOW)
        assert report.ok and report.entries_checked == 150


def test_one_card_cannot_be_personalised_by_two_requests(db_engine: Engine) -> None:
    register = make_register(db_engine)
    apps = [approved(register, 200 + i) for i in range(10)]
    barrier = threading.Barrier(10)

    def attempt(app_id: int) -> str:
        barrier.wait()
        try:
            return register.reserve_permit(app_id, "CARD-SHARED", NOW).permit_number
        except CardBusy:
            return "busy"

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, apps))
    assert len([r for r in results if r != "busy"]) == 1


def test_audit_log_of_a_full_flow_holds_no_personal_data(db_engine: Engine) -> None:
    register = make_register(db_engine)
    number = issue(register, 11, serial="CARD-PD")
    register.submit_application(applicant(12), application(evidence=None), "officer-1", NOW)
    register.record_verification(number, "valid", "bank-1", LATER)
    register.replace(number, "lost", "CARD-PD2", "officer-1", LATER)
    with Session(db_engine) as session:
        events = session.execute(select(AuditEvent).order_by(col(AuditEvent.seq))).scalars().all()
    dump = "\n".join(repr(e.model_dump()) for e in events)
    assert [e.action for e in events] == [
        "application.decide",
        "permit.reserve",
        "permit.issue",
        "application.decide",
        "permit.verify",
        "permit.revoke",
        "permit.replace",
        "permit.reserve",
    ]
    for secret in (applicant(11).id_number, applicant(12).id_number, NAME_PREFIX, ADDRESS):
        assert secret not in dump
    assert "1990" not in dump and "E-1" not in dump and "ab" * 32 not in dump


def test_half_written_card_is_recognised(db_engine: Engine) -> None:
    register = make_register(db_engine)
    reservation = register.reserve_permit(approved(register, 13), "CARD-HALF", NOW)
    found = register.permit_for_card("CARD-HALF")
    assert found is not None and found.state is PermitState.RESERVED
    assert found.number == reservation.permit_number
    register.abandon(reservation.permit_number, "reconciled", LATER)
    assert register.permit_for_card("CARD-HALF") is None
    assert register.permit_for_card("CARD-UNKNOWN") is None


def _issue_in_process(url: str, first_index: int, count: int, queue: Queue[list[str]]) -> None:
    from card_service.register.db import make_engine

    engine = make_engine(url)
    try:
        register = make_register(engine)
        apps = [approved(register, first_index + i) for i in range(count)]
        with ThreadPoolExecutor(max_workers=count) as pool:
            numbers = list(
                pool.map(
                    lambda pair: issue_reserved(register, pair[1], f"CARD-X{pair[0]:04d}"),
                    [(first_index + i, a) for i, a in enumerate(apps)],
                )
            )
        queue.put(numbers)
    finally:
        engine.dispose()


def issue_reserved(register: Register, app_id: int, serial: str) -> str:
    reservation = register.reserve_permit(app_id, serial, NOW)
    register.mark_issued(reservation.permit_number, digest(serial), digest("r"), NOW)
    return reservation.permit_number


def test_two_service_processes_share_one_postgresql(postgres_database: str) -> None:
    from card_service.migrations import upgrade
    from card_service.register.db import make_engine

    engine = make_engine(postgres_database)
    upgrade(engine)
    ctx = multiprocessing.get_context("spawn")
    queue: Queue[list[str]] = ctx.Queue()
    procs = [
        ctx.Process(target=_issue_in_process, args=(postgres_database, base, 10, queue))
        for base in (400, 500)
    ]
    for p in procs:
        p.start()
    numbers = [n for _ in procs for n in queue.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(set(numbers)) == 20
    with Session(engine) as session:
        report = verify_audit_log(session, None, NOW)
        assert report.ok and report.entries_checked == 60
    engine.dispose()


def test_check_application_on_a_fresh_register(db_engine: Engine) -> None:
    """A new process's Register (person key not cached yet) checks an application without
    nesting transactions (on SQLite a nested one would wait for the first's write lock)."""
    from card_service.register.errors import ApplicationMismatch, NotFound

    app_id = approved(make_register(db_engine), 21)
    fresh = make_register(db_engine)
    fresh.check_application(app_id, applicant(21), application())
    with pytest.raises(ApplicationMismatch) as info:
        fresh.check_application(app_id, applicant(22), application())
    assert info.value.fields == ("citizen_id", "full_name")
    with pytest.raises(NotFound):
        fresh.check_application(999_999, applicant(21), application())
