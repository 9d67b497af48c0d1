"""Attack on the status list's ``sub`` against the ``uri`` of the records' status reference:
both are ``PERMIT_STATUS_LIST_URI`` as one string, so they agree however it is written (a
trailing slash, surrounding whitespace in the environment) and whatever base URL the list
is fetched from (a mirror, another host name, a path prefix); a verifier answers a record
from the list, never ``wrong_uri``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.http import create_app
from card_service.office import EphemeralOffice, Settings, ephemeral_office
from card_service.record.cose import parse_sign1
from card_service.record.mso import parse_mso
from card_service.record.record_parser import decode_record
from card_service.record.status_ref import StatusKind
from card_service.status.verify import load_status_list, record_status
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.http.conftest import PKI, fake_authenticate, insert_blank
from tests.http.test_offline import card_record
from tests.http.test_status_list import _draft_decode

URI = "https://permits.example.gov.cn/v1/status-list/"


@pytest.fixture
def issuer() -> Iterator[EphemeralOffice]:
    settings = Settings.from_env({"PERMIT_STATUS_LIST_URI": f"  {URI}\n"})
    with ephemeral_office(NOW, pki=PKI, settings=settings) as made:
        yield made


@pytest.mark.parametrize(
    "base", ["http://testserver", "https://mirror.example.org", "http://10.0.0.7:8443/"]
)
def test_the_list_sub_is_the_records_uri_whatever_the_base_url(
    issuer: EphemeralOffice, base: str
) -> None:
    reader = insert_blank(issuer, 0)
    issuer.issue(synthetic_application(NOW, seed=61), reader, NOW)
    record = decode_record(card_record(issuer, 0))
    status = parse_mso(parse_sign1(record.issuer_auth).payload).status
    assert status is not None and status.uri == URI  # whitespace gone, slash kept

    at = NOW + dt.timedelta(minutes=1)
    app = create_app(issuer, authenticate=fake_authenticate, now=lambda: at)
    with TestClient(app, base_url=base) as client:
        response = client.get("/v1/status-list")
    assert response.status_code == 200, response.text
    claims, _lst = _draft_decode(response.content)
    assert claims[2] == URI  # sub

    check = load_status_list(response.content, issuer.trust_list(), at, uri=status.uri)
    assert check.status_list is not None, check.reason
    assert record_status(check)(status, at).kind is StatusKind.VALID
