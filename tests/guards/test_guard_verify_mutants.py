"""``permit verify`` decisions a mutation sample left unguarded (card_service/workflows/verify.py).

Each test asserts an answer that a broken comparison or handler would change:

* ``register_revocation``: a revocation counts from its effective time on, the instant itself
  included, and never before; an unknown number or a permit that is not revoked has none;
* ``_register_check``: only ISSUED (or REVOKED) permits with an issue time pass the register
  state check; REVOKED - and only REVOKED, not SUSPENDED - is ``register_revoked``; an
  unknown number is ``register_unknown``; records that cannot be parsed are
  ``record_unreadable``, never a traceback;
* the audit entry of a verification is written when, and only when, both a register and an
  actor are given, and a forged record's "permit number" never reaches the log.

They run on SQLite only: nothing here depends on the database, and the register's own
behaviour on both databases is tested in tests/register.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from sqlalchemy import text

from card_service.record import RevocationEntry, Verdict, Verifier
from card_service.register.permit_numbers import format_permit_number
from card_service.workflows import SimulatedCrash
from card_service.workflows.progress import Step
from card_service.workflows.verify import CardVerification, register_revocation, verify_card
from simulators.card import SimulatedCard
from tests.dbfixtures import NOW
from tests.guards.cards import issue_genuine, personalise, read_record
from tests.workflows.conftest import World, make_world


@pytest.fixture
def station(tmp_path: Path) -> Iterator[World]:
    w = make_world(f"sqlite:///{tmp_path / 'register.db'}")
    yield w
    w.close()


def check(
    world: World,
    reader: str,
    now: dt.datetime = NOW,
    *,
    register: bool = True,
    audit_actor: str | None = None,
    verifier: Verifier | None = None,
) -> CardVerification:
    """The one call of ``verify_card`` here."""
    if verifier is None:
        verifier = Verifier(world.issuer.trust, revocation=register_revocation(world.register))
    return verify_card(
        world.cards,
        reader,
        verifier,
        now,
        register=world.register if register else None,
        audit_actor=audit_actor,
    )


def verify_entries(world: World) -> list[tuple[str, str | None, str]]:
    """The ``permit.verify`` audit entries: (actor, permit_number, result)."""
    with world.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT actor, permit_number, result FROM audit_event"
                " WHERE action = 'permit.verify' ORDER BY seq"
            )
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def set_permit(world: World, number: str, **columns: Any) -> None:
    """Change the permit row behind the register's back (a test of the check, not of SQL)."""
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    with world.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE permit SET {assignments} WHERE number = :number"),
            {**columns, "number": number},
        )


def genuine(world: World) -> tuple[str, str]:
    """An issued permit on a fresh card in slot 0: (number, reader)."""
    number = issue_genuine(world, world.driver, world.new_card(), 0)
    return number, world.driver.reader_names[0]


def half_personalised(world: World) -> str:
    """A card killed before its lock (the register has it ISSUED): its reader."""
    reader = world.driver.insert(0, world.new_card())
    app, app_id = world.application()

    def crash(step: Step) -> None:
        if step is Step.LOCK:
            raise SimulatedCrash("killed before the lock")

    with pytest.raises(SimulatedCrash):
        world.workflow(hook=crash).issue(app, app_id, reader, NOW)
    world.register.lock_pending(app_id)
    return reader


def rewrite_record(record: bytes, *, number: str | None = None, issuer_auth: Any = None) -> bytes:
    """The record with its permit_number item's value replaced (digest now wrong) and/or its
    issuerAuth replaced; still in deterministic encoding, so it parses."""
    top = cbor2.loads(record)
    for entries in top["nameSpaces"].values():
        for i, entry in enumerate(entries):
            item = cbor2.loads(entry.value)
            if number is not None and item["elementIdentifier"] == "permit_number":
                item["elementValue"] = number
                entries[i] = cbor2.CBORTag(24, cbor2.dumps(item, canonical=True))
    if issuer_auth is not None:
        top["issuerAuth"] = issuer_auth
    return cbor2.dumps(top, canonical=True)


# -- register_revocation ------------------------------------------------------------------


def test_revocation_counts_from_its_effective_instant_on(station: World) -> None:
    number, _ = genuine(station)
    status = register_revocation(station.register)
    assert status(number, NOW) is None  # ISSUED: no revocation (and no crash on None)
    effective = NOW + dt.timedelta(days=3)
    station.register.revoke(number, "lost", effective, "officer-1", NOW)
    assert status(number, effective - dt.timedelta(microseconds=1)) is None
    assert status(number, NOW) is None
    for at in (effective, effective + dt.timedelta(microseconds=1), effective + dt.timedelta(1)):
        entry = status(number, at)
        assert isinstance(entry, RevocationEntry), at
        assert (entry.revoked_at, entry.reason) == (effective, "lost")


def test_revocation_of_an_unknown_number_is_none(station: World) -> None:
    unknown = format_permit_number("330106", 2026, 9)
    assert register_revocation(station.register)(unknown, NOW) is None


# -- verify_card against the register -----------------------------------------------------


def test_an_issued_permit_passes_and_a_revoked_one_fails_from_its_effective_time(
    station: World,
) -> None:
    number, reader = genuine(station)
    ok = check(station, reader)
    assert (ok.passed, ok.problems, ok.register_state, ok.permit_number) == (
        True,
        (),
        "ISSUED",
        number,
    )
    effective = NOW + dt.timedelta(hours=2)
    station.register.revoke(number, "stolen", effective, "officer-1", NOW)
    before = check(station, reader, effective - dt.timedelta(seconds=1))
    assert (before.passed, before.problems, before.register_state) == (True, (), "ISSUED")
    for at in (effective, effective + dt.timedelta(seconds=1)):
        revoked = check(station, reader, at)
        assert not revoked.passed
        assert revoked.problems == ("record_revoked", "register_revoked"), at
        assert revoked.register_state == "REVOKED"
    # the register check alone (a verifier without the revocation hook) says it too
    alone = check(station, reader, effective, verifier=Verifier(station.issuer.trust))
    assert alone.problems == ("register_revoked",)


def test_a_suspended_permit_is_not_reported_revoked(station: World) -> None:
    """SUSPENDED sorts after REVOKED: an ordering comparison instead of equality would call a
    permit whose endorsement is overdue revoked."""
    number, reader = genuine(station)
    later = NOW + dt.timedelta(days=3 * 365)
    assert station.register.effective_state(number, later) == "SUSPENDED"
    fresh = Verifier(
        station.issuer_at(later).trust, revocation=register_revocation(station.register)
    )
    result = check(station, reader, later, verifier=fresh)
    assert result.register_state == "SUSPENDED"
    assert "register_revoked" not in result.problems
    assert "register_not_issued" not in result.problems


@pytest.mark.parametrize("state", ["ABANDONED", "RESERVED"])
def test_a_permit_not_issued_in_the_register_fails(station: World, state: str) -> None:
    """The permit row has an issue time but is no longer ISSUED or REVOKED."""
    number, reader = genuine(station)
    set_permit(station, number, state=state)
    result = check(station, reader)
    assert not result.passed
    assert result.problems == ("register_not_issued",)


def test_an_issued_permit_without_an_issue_time_fails(station: World) -> None:
    number, reader = genuine(station)
    set_permit(station, number, issued_at=None)
    result = check(station, reader)
    assert (result.passed, result.problems) == (False, ("register_not_issued",))


def test_a_number_the_register_does_not_know_is_register_unknown(station: World) -> None:
    reader = station.driver.insert(0, station.new_card())
    app, _ = station.application()
    personalise(
        station.issuer,
        NOW,
        station.driver,
        reader,
        application=app,
        permit_number=format_permit_number("330106", 2026, 77),
    )
    result = check(station, reader)
    assert (result.passed, result.problems) == (False, ("register_unknown",))
    assert result.register_state is None


def test_a_garbage_record_is_unreadable_not_a_traceback(station: World) -> None:
    reader = station.driver.insert(0, station.new_card())
    personalise(station.issuer, NOW, station.driver, reader, record=b"\xa1\x00garbage")
    result = check(station, reader)
    assert not result.passed
    assert "record_unreadable" in result.problems
    assert result.problems[-1] == "register_unknown" and result.permit_number is None


def test_a_record_whose_issuer_auth_is_broken_is_unreadable_at_the_register(
    station: World,
) -> None:
    """The items parse (the number is found in the register) but issuerAuth does not: the
    digest comparison cannot be made and is reported, not raised."""
    number, first = genuine(station)
    broken = rewrite_record(read_record(station.driver, first), issuer_auth="not a COSE_Sign1")
    reader = station.driver.insert(1, station.new_card())
    personalise(station.issuer, NOW, station.driver, reader, record=broken)
    result = check(station, reader)
    assert result.permit_number == number
    assert not result.passed
    assert result.problems[-1] == "record_unreadable"
    assert result.problems.count("record_unreadable") == 1
    assert result.register_state == "ISSUED"


# -- the audit entry ----------------------------------------------------------------------


def test_a_verification_is_audited_only_with_register_and_actor(station: World) -> None:
    number, reader = genuine(station)
    assert check(station, reader).passed  # no actor: nothing logged
    assert check(station, reader, register=False, audit_actor="bank-7").passed  # no register
    assert verify_entries(station) == []
    assert check(station, reader, audit_actor="counter-3").passed
    assert verify_entries(station) == [("counter-3", number, "passed")]


def test_an_early_failure_is_audited_only_with_register_and_actor(station: World) -> None:
    reader = half_personalised(station)
    for kwargs in ({}, {"register": False, "audit_actor": "bank-7"}):
        early = check(station, reader, **kwargs)  # type: ignore[arg-type]
        assert (early.passed, early.problems) == (False, ("card_half_personalised",))
    assert verify_entries(station) == []
    check(station, reader, audit_actor="counter-3")
    assert verify_entries(station) == [("counter-3", None, "failed:card_half_personalised")]


@pytest.mark.parametrize("forged", ["330106'OR'1", "A" * 40, "ab12"])
def test_a_forged_records_number_is_not_logged(station: World, forged: str) -> None:
    """The record's items are not trusted: a "permit number" that is not one is logged as
    none (the log would refuse it, and the verification must still be recorded)."""
    _, first = genuine(station)
    record = rewrite_record(read_record(station.driver, first), number=forged)
    reader = station.driver.insert(1, station.new_card())
    personalise(station.issuer, NOW, station.driver, reader, record=record)
    result = check(station, reader, audit_actor="counter-3")
    assert result.permit_number == forged and not result.passed
    [entry] = verify_entries(station)
    assert entry[:2] == ("counter-3", None)
    assert entry[2].startswith("failed:record_")


def test_a_genuinely_signed_record_the_register_did_not_record_is_a_digest_mismatch(
    station: World,
) -> None:
    """A station holding the signing and SCP03 keys makes a second card outside the register:
    the same number and serial, a valid signature, the card's own key - only the register's
    digests tell it from the card the register recorded."""
    first = station.new_card()
    number = issue_genuine(station, station.driver, first, 0)
    twin = SimulatedCard.manufacture(
        master_keys={station.kvn: station.master_key},
        kvn=station.kvn,
        serial=first.serial,
        durable=False,
    )
    reader = station.driver.insert(1, twin)
    app, _ = station.application()
    personalise(station.issuer, NOW, station.driver, reader, application=app, permit_number=number)
    result = check(station, reader)
    assert result.result is not None and result.result.verdict is Verdict.VALID
    assert result.permit_number == number and result.register_state == "ISSUED"
    assert (result.passed, result.problems) == (False, ("register_digest_mismatch",))
