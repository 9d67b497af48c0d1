"""Relying parties through the office: challenge -> the card answers -> a selective
presentation -> the verdict with only the scoped elements; nonces that never yield VALID;
elements outside the scope refused; the status of a permit; every verification audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from card_service.audit import AuditEvent
from card_service.clients import ApiClient, Role
from card_service.office import (
    ChallengeOutcome,
    EphemeralOffice,
    OutOfScope,
    PermitNotFound,
    PermitStatus,
    Presentation,
    SharedState,
    SharedStateUnavailable,
    ephemeral_office,
)
from card_service.record.ephemeral_pki import EphemeralPki
from card_service.shared_state import MemoryChallengeStore, MemoryRateLimiter
from card_service.workflows.application import synthetic_application
from permit_errors import ErrorKind
from tests.dbfixtures import NOW
from tests.office.test_office import insert_blank

_PKI = EphemeralPki.create(NOW - dt.timedelta(days=30))
BANK = ApiClient("client-bank", "bank", Role.RELYING_PARTY, frozenset({"full_name", "expiry_date"}))
SHOP = ApiClient("client-shop", "shop", Role.RELYING_PARTY, frozenset({"residence_began"}))


@pytest.fixture
def office() -> Iterator[EphemeralOffice]:
    with ephemeral_office(NOW, pki=_PKI) as made:
        yield made


def _issued(office: EphemeralOffice, seed: int = 1) -> tuple[str, str]:
    reader = insert_blank(office)
    issued = office.issue(synthetic_application(NOW, seed=seed), reader, NOW)
    return reader, issued.permit_number


def _audit(office: EphemeralOffice) -> list[tuple[str, str | None, str]]:
    with Session(office.engine) as session:
        rows = session.execute(
            select(AuditEvent)
            .where(col(AuditEvent.action) == "permit.verify")
            .order_by(col(AuditEvent.seq))
        ).scalars()
        return [(r.actor, r.permit_number, r.result) for r in rows]


def test_challenge_presentation_valid_with_only_scoped_elements(office: EphemeralOffice) -> None:
    reader, number = _issued(office)
    challenge = office.issue_challenge(BANK, NOW)
    assert challenge.client_id == BANK.client_id and challenge.expires_at > NOW
    presentation = office.present_card(reader, challenge.nonce, ["full_name", "expiry_date"])
    assert "redacted" in repr(presentation)
    answer = office.verify_presentation(BANK, presentation, NOW, audit_actor="api:bank")
    assert answer.valid, answer.reasons
    assert answer.challenge is ChallengeOutcome.CONSUMED
    assert set(answer.elements) == {
        "full_name",
        "expiry_date",
        "permit_number",
        "first_endorsement_due",
    }
    assert answer.elements["permit_number"] == number
    assert answer.years_of_residence is None  # residence_began is not in the bank's scope
    assert _audit(office) == [("api:bank", number, "passed")]
    # the wire form round-trips
    assert Presentation.from_json(presentation.to_json()) == presentation


def test_years_of_residence_only_with_residence_began(office: EphemeralOffice) -> None:
    reader, _ = _issued(office)
    nonce = office.issue_challenge(SHOP, NOW).nonce
    answer = office.verify_presentation(
        SHOP, office.present_card(reader, nonce, ["residence_began"]), NOW, audit_actor="shop"
    )
    assert answer.valid and answer.years_of_residence is not None
    assert "full_name" not in answer.elements


def test_nonces_that_never_yield_valid(office: EphemeralOffice) -> None:
    reader, _ = _issued(office)
    nonce = office.issue_challenge(BANK, NOW).nonce
    good = office.present_card(reader, nonce, ["full_name"])
    assert office.verify_presentation(BANK, good, NOW, audit_actor="bank").valid
    replayed = office.verify_presentation(BANK, good, NOW, audit_actor="bank")
    assert (replayed.verdict, replayed.challenge) == ("INVALID", ChallengeOutcome.REPLAYED)
    assert [r.code for r in replayed.reasons] == ["challenge_replayed"] and not replayed.elements

    late = office.issue_challenge(BANK, NOW)
    presentation = office.present_card(reader, late.nonce, ["full_name"])
    expired = office.verify_presentation(BANK, presentation, late.expires_at, audit_actor="bank")
    assert expired.challenge is ChallengeOutcome.EXPIRED and not expired.valid

    other = office.issue_challenge(SHOP, NOW)
    stolen = office.present_card(reader, other.nonce, ["full_name"])
    answer = office.verify_presentation(BANK, stolen, NOW, audit_actor="bank")
    assert answer.challenge is ChallengeOutcome.OTHER_CLIENT and not answer.valid
    # burned for its owner too
    shop = office.present_card(reader, other.nonce, ["residence_began"])
    assert not office.verify_presentation(SHOP, shop, NOW, audit_actor="shop").valid

    fresh = office.issue_challenge(BANK, NOW).nonce
    unknown = Presentation(good.record, good.endorsements, "A" * 43, good.card_signature)
    assert office.verify_presentation(BANK, unknown, NOW, audit_actor="bank").challenge is (
        ChallengeOutcome.UNKNOWN
    )
    garbage = Presentation(good.record, good.endorsements, "not a nonce", good.card_signature)
    assert not office.verify_presentation(BANK, garbage, NOW, audit_actor="bank").valid
    # the card's answer over another nonce does not verify
    wrong = Presentation(good.record, good.endorsements, fresh, good.card_signature)
    cloned = office.verify_presentation(BANK, wrong, NOW, audit_actor="bank")
    assert cloned.verdict == "CLONED" and cloned.challenge is ChallengeOutcome.CONSUMED
    results = [result for _, _, result in _audit(office)]
    assert results[0] == "passed" and "failed:challenge_replayed" in results
    assert "failed:challenge_expired" in results and "failed:challenge_other_client" in results
    assert "failed:challenge_unknown" in results


def test_elements_outside_the_scope_are_refused(office: EphemeralOffice) -> None:
    reader, _ = _issued(office)
    nonce = office.issue_challenge(SHOP, NOW).nonce
    presentation = office.present_card(reader, nonce, ["residence_began", "full_name"])
    with pytest.raises(OutOfScope) as refused:
        office.verify_presentation(SHOP, presentation, NOW, audit_actor="shop")
    assert refused.value.kind is ErrorKind.FORBIDDEN
    assert refused.value.code == "presentation_out_of_scope"
    assert _audit(office)[-1] == ("shop", None, "refused:out_of_scope")
    # the nonce was spent first: resending a trimmed presentation needs a new challenge
    trimmed = office.present_card(reader, nonce, ["residence_began"])
    assert not office.verify_presentation(SHOP, trimmed, NOW, audit_actor="shop").valid


class _DownStore(MemoryChallengeStore):
    def consume(self, nonce: str, client_id: str, now: dt.datetime) -> ChallengeOutcome:
        raise SharedStateUnavailable("the shared store did not answer")


def test_shared_store_down_fails_closed(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, _ = _issued(office)
    nonce = office.issue_challenge(BANK, NOW).nonce
    presentation = office.present_card(reader, nonce, ["full_name"])
    down = SharedState("memory", _DownStore(), MemoryRateLimiter())
    monkeypatch.setattr(office, "_shared_state", down)
    with pytest.raises(SharedStateUnavailable):
        office.verify_presentation(BANK, presentation, NOW, audit_actor="bank")
    assert _audit(office) == [("bank", None, "failed:shared_state_unavailable")]


def test_permit_status(office: EphemeralOffice) -> None:
    _, number = _issued(office)
    assert office.permit_status(number, NOW) is PermitStatus.VALID
    # an overdue annual endorsement suspends it
    late = NOW + dt.timedelta(days=500)
    assert office.permit_status(number, late) is PermitStatus.SUSPENDED
    with pytest.raises(PermitNotFound) as unknown:
        office.permit_status("330106202699999999", NOW)
    assert unknown.value.kind is ErrorKind.NOT_FOUND
    office.revoke(number, "lost", NOW)
    assert office.permit_status(number, NOW + dt.timedelta(seconds=1)) is PermitStatus.REVOKED


def test_present_card_refuses_bad_requests(office: EphemeralOffice) -> None:
    reader, _ = _issued(office)
    nonce = office.issue_challenge(BANK, NOW).nonce
    with pytest.raises(Exception) as bad:
        office.present_card(reader, "short", ["full_name"])
    assert getattr(bad.value, "kind", None) is ErrorKind.INVALID
    with pytest.raises(Exception) as unknown:
        office.present_card(reader, nonce, ["shoe_size"])
    assert getattr(unknown.value, "kind", None) is ErrorKind.INVALID


def test_the_register_must_hold_the_presented_record(office: EphemeralOffice) -> None:
    from sqlalchemy import text

    reader, number = _issued(office)
    with office.engine.begin() as connection:
        connection.execute(
            text("UPDATE permit SET mso_digest = :d WHERE number = :n"),
            {"d": "00" * 32, "n": number},
        )
    nonce = office.issue_challenge(BANK, NOW).nonce
    presentation = office.present_card(reader, nonce, ["full_name"])
    answer = office.verify_presentation(BANK, presentation, NOW, audit_actor="bank")
    assert answer.verdict == "FORGED" and not answer.elements
    assert "register_record_mismatch" in [r.code for r in answer.reasons]
    with office.engine.begin() as connection:
        connection.execute(
            text("UPDATE permit SET state = 'RESERVED' WHERE number = :n"), {"n": number}
        )
    nonce = office.issue_challenge(BANK, NOW).nonce
    presentation = office.present_card(reader, nonce, ["full_name"])
    answer = office.verify_presentation(BANK, presentation, NOW, audit_actor="bank")
    assert answer.verdict == "REVOKED"
    assert [r.code for r in answer.reasons] == ["register_not_issued"]
