"""The application layer on ephemeral keys: the use cases an entry point calls, their
results and their expected failures (PermitError with a stable code)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from card_service.office import EphemeralOffice, PermitHistory, ephemeral_office
from card_service.office.errors import (
    ApplicationRejected,
    ApprovedNotIssued,
    RequestInvalid,
)
from card_service.record import Verdict
from card_service.record.ephemeral_pki import EphemeralPki
from card_service.workflows.application import synthetic_application
from permit_errors import ErrorKind, PermitError
from reader_drivers.errors import NoCard
from simulators.card import SimulatedCard
from tests.dbfixtures import NOW

_PKI = EphemeralPki.create(NOW - dt.timedelta(days=30))


@pytest.fixture
def office() -> Iterator[EphemeralOffice]:
    with ephemeral_office(NOW, pki=_PKI) as made:
        assert isinstance(made, EphemeralOffice)
        yield made


def insert_blank(office: EphemeralOffice, slot: int = 0) -> str:
    station = office.station
    card = SimulatedCard.manufacture(
        master_keys={station.kvn: station.master_key}, kvn=station.kvn, durable=False
    )
    reader: str = station.driver.insert(slot, card)  # type: ignore[attr-defined]
    return reader


def test_issue_verify_endorse_revoke_and_history(office: EphemeralOffice) -> None:
    reader = insert_blank(office)
    assert [r.card_present for r in office.readers()] == [True, False]
    application = synthetic_application(NOW, seed=1)

    issued = office.issue(application, reader, NOW)
    assert issued.pin is not None and issued.puk is not None

    check = office.verify_card(reader, NOW)
    assert check.passed, check.problems
    assert check.permit_number == issued.permit_number and check.register_state == "ISSUED"

    with pytest.raises(PermitError) as refused:
        office.endorse(reader, NOW)  # the first endorsement is a year away
    assert refused.value.code == "not_due"
    assert refused.value.kind is ErrorKind.REFUSED

    history = office.permit_history(issued.permit_number, NOW)
    assert isinstance(history, PermitHistory)
    assert (history.state, history.effective_state) == ("ISSUED", "ISSUED")
    assert history.to_json()["issue_date"] == history.issue_date.isoformat()

    revoked = office.revoke(issued.permit_number, "lost", NOW)
    assert revoked.number == issued.permit_number
    after = office.permit_history(issued.permit_number, NOW + dt.timedelta(seconds=1))
    assert after.effective_state == "REVOKED" and after.revocation_reason == "lost"

    check = office.verify_card(reader, NOW + dt.timedelta(seconds=1))
    assert not check.passed and "register_revoked" in check.problems


def test_verify_record_is_a_result_not_an_exception(office: EphemeralOffice) -> None:
    reader = insert_blank(office)
    office.issue(synthetic_application(NOW, seed=2), reader, NOW)
    assert office.verify_record(b"\xa0", NOW).verdict is not Verdict.VALID


def test_expected_failures_have_stable_codes(office: EphemeralOffice) -> None:
    with pytest.raises(PermitError) as missing:
        office.permit_history("3301062026999999X", NOW)
    assert (missing.value.code, missing.value.kind) == ("not_found", ErrorKind.NOT_FOUND)

    # an empty reader is refused before anything is recorded
    with pytest.raises(NoCard) as empty:
        office.issue(synthetic_application(NOW, seed=3), "Permit Sim Reader 0", NOW)
    assert empty.value.code == "no_card"

    # the same person again: approved and recorded, then refused by the register
    reader = insert_blank(office)
    application = synthetic_application(NOW, seed=4)
    office.issue(application, reader, NOW)
    office.station.driver.remove(0)  # type: ignore[attr-defined]
    second = insert_blank(office, 1)
    with pytest.raises((ApplicationRejected, ApprovedNotIssued)) as again:
        office.issue(application, second, NOW)
    assert isinstance(again.value, PermitError) and again.value.code

    # an ephemeral office has no key store to administer
    with pytest.raises(RequestInvalid) as keys:
        office.describe_keys(NOW)
    assert keys.value.code == "request_invalid"


def test_sandbox_is_the_ephemeral_office_parts() -> None:
    from card_service.office.ephemeral import Sandbox

    with ephemeral_office(NOW, pki=_PKI) as made:
        assert isinstance(made.station, Sandbox)
        assert made.trust_list() is made.station.issuer.trust
