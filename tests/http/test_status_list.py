"""``GET /v1/status-list``: the signed status list built from the register.

The list is read back twice: with the project's verifier (signature, signer under the root,
times) and with a decoder written here from the draft's text alone (CBOR, ZLIB, two bits per
index, least significant first), so a permit revoked in the register is seen INVALID at its
index by an implementation that is not the project's.
"""

from __future__ import annotations

import datetime as dt
import zlib

import cbor2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session, col

from api.http import create_app
from card_service.office import EphemeralOffice
from card_service.register.models import Permit
from card_service.status.verify import Verdict, check_status
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.http.conftest import fake_authenticate, insert_blank


def _draft_decode(token: bytes) -> tuple[dict[int, object], bytes]:
    """Claims and the inflated ``lst`` of a Status List Token, by the draft's text only."""
    protected, _unprotected, payload, _signature = cbor2.loads(token)
    assert cbor2.loads(protected)[16] == "application/statuslist+cwt"  # typ
    claims = cbor2.loads(payload)
    status_list = claims[65533]
    assert status_list["bits"] == 2
    return claims, zlib.decompress(status_list["lst"])


def _status_at(lst: bytes, index: int) -> int:
    return (lst[index * 2 // 8] >> ((index * 2) % 8)) & 0b11


def _index_of(office: EphemeralOffice, number: str) -> int:
    with Session(office.station.engine) as session:
        index = session.execute(select(Permit.id).where(col(Permit.number) == number)).scalar_one()
    assert isinstance(index, int)
    return index


@pytest.fixture
def issued(office: EphemeralOffice) -> tuple[str, str]:
    numbers = []
    for slot, seed in ((0, 31), (1, 32)):
        reader = insert_blank(office, slot)
        result = office.issue(synthetic_application(NOW, seed=seed), reader, NOW)
        numbers.append(result.permit_number)
    return numbers[0], numbers[1]


def test_a_revocation_reaches_the_status_list(
    office: EphemeralOffice, issued: tuple[str, str]
) -> None:
    kept, revoked = issued
    clock = [NOW + dt.timedelta(minutes=1)]
    app = create_app(office, authenticate=fake_authenticate, now=lambda: clock[0])
    with TestClient(app) as client:
        response = client.get("/v1/status-list")  # public material: no key needed
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/statuslist+cwt"
        assert response.headers["cache-control"] == "public, max-age=300"
        claims, lst = _draft_decode(response.content)
        assert claims[2] == "urn:permit:status-list"  # sub
        assert claims[65534] == 300  # ttl
        assert claims[4] > claims[6]  # exp after iat
        for number in issued:
            assert _status_at(lst, _index_of(office, number)) == 0  # VALID
        assert _status_at(lst, 0) == 1  # index 0 is never a permit's: INVALID

        office.revoke(revoked, "lost", clock[0])
        # the list served is rebuilt at most 30 s later
        clock[0] += dt.timedelta(seconds=31)
        token = client.get("/v1/status-list").content

    _claims, lst = _draft_decode(token)
    assert _status_at(lst, _index_of(office, revoked)) == 1  # INVALID
    assert _status_at(lst, _index_of(office, kept)) == 0  # VALID
    trust = office.trust_list()
    at = clock[0]
    mine = check_status(token, trust, index=_index_of(office, revoked), now=at)
    assert mine.verdict is Verdict.INVALID
    other = check_status(token, trust, index=_index_of(office, kept), now=at)
    assert other.verdict is Verdict.VALID
    # an index the list does not hold yet (a permit issued after it was built): unknown
    beyond = check_status(token, trust, index=10_000, now=at)
    assert beyond.verdict is Verdict.UNKNOWN
    # a list verified a day and a half later has expired: unknown, never "valid"
    stale = check_status(
        token, trust, index=_index_of(office, kept), now=at + dt.timedelta(hours=36)
    )
    assert stale.verdict is Verdict.UNKNOWN


def test_the_served_list_is_kept_thirty_seconds(
    office: EphemeralOffice, issued: tuple[str, str]
) -> None:
    first = office.status_list(NOW)
    assert office.status_list(NOW + dt.timedelta(seconds=29)) is first
    office.revoke(issued[0], "stolen", NOW)
    later = office.status_list(NOW + dt.timedelta(seconds=30))
    assert later is not first and later.counts[1] == first.counts[1] + 1
    # a clock earlier than the kept list's issue time never gets a list from the future
    assert office.status_list(NOW - dt.timedelta(seconds=5)).issued_at <= NOW


def test_reserved_and_abandoned_indices_are_invalid(office: EphemeralOffice) -> None:
    """A reservation (issuance in progress) or a rolled-back one is not a valid permit."""
    _application, application_id = office.station.application()
    reservation = office.station.register.reserve_permit(application_id, "00" * 8, NOW)
    signed = office.status_list(NOW)
    _claims, lst = _draft_decode(signed.token)
    assert _status_at(lst, _index_of(office, reservation.permit_number)) == 1
    assert signed.counts[0] == 0


def test_an_overdue_endorsement_reads_suspended(
    office: EphemeralOffice, issued: tuple[str, str]
) -> None:
    """No annual endorsement by its due date (and the grace after it): SUSPENDED, the
    draft's 0x02, at the permit's index; the other statuses are unchanged."""
    number = issued[0]
    later = NOW + dt.timedelta(days=2 * 365)
    assert office.reader_register().effective_state(number, later) == "SUSPENDED"
    signed = office.status_list(later)
    _claims, lst = _draft_decode(signed.token)
    assert _status_at(lst, _index_of(office, number)) == 2
    trust = office.station.pki.trust(later)  # a CRL current two years on
    answer = check_status(signed.token, trust, index=_index_of(office, number), now=later)
    assert answer.verdict is Verdict.SUSPENDED
