"""Administration of API clients through the API: create (the key shown once, no-store,
never logged), list (no keys or hashes), expire, revoke - against the office's real client
register, so a created key really works and really stops working."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.http import create_app
from card_service.office import EphemeralOffice
from tests.dbfixtures import NOW
from tests.http.conftest import assert_problem
from tests.secretlog import SecretLog

UNKNOWN = "/v1/permits/3301062026999999X"


@pytest.fixture
def admin_key(office: EphemeralOffice) -> str:
    return office.create_client("root admin", "admin", NOW, actor="bootstrap").key


@pytest.fixture
def real(office: EphemeralOffice) -> Iterator[TestClient]:
    """The app with the default authenticator: the office's client register."""
    app = create_app(office, now=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as made:
        yield made


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_create_use_revoke(real: TestClient, office: EphemeralOffice, admin_key: str) -> None:
    admin = office.authenticate_client(admin_key, NOW)
    response = real.post(
        "/v1/clients", json={"name": "Desk 3", "role": "officer"}, headers=bearer(admin_key)
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    key, client_id = created["key"], created["client"]["client_id"]
    assert created["client"]["role"] == "officer" and created["client"]["status"] == "active"
    assert created["client"]["created_by"] == f"api:admin:{admin.client_id}"
    # the key works against a keyed route (an unknown permit: 404, not 401) ...
    assert_problem(real.get(UNKNOWN, headers=bearer(key)), 404)
    # ... and the admin routes are not the officer's
    assert_problem(real.get("/v1/clients", headers=bearer(key)), 403, "forbidden")
    revoked = real.post(f"/v1/clients/{client_id}/revocation", headers=bearer(admin_key))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert_problem(real.get(UNKNOWN, headers=bearer(key)), 401, "unauthenticated")
    again = real.post(f"/v1/clients/{client_id}/revocation", headers=bearer(admin_key))
    assert_problem(again, 409, "client_revoked")
    # the audit entries name the calling administrator's client
    actions = {e.action: e.actor for e in office.audit_entries(limit=1000)}
    assert actions["client.create"] == f"api:admin:{admin.client_id}"
    assert actions["client.revoke"] == f"api:admin:{admin.client_id}"


def test_list_has_no_keys_or_hashes(
    real: TestClient, office: EphemeralOffice, admin_key: str
) -> None:
    made = real.post(
        "/v1/clients",
        json={"name": "Bank", "role": "relying_party", "scope": ["full_name"]},
        headers=bearer(admin_key),
    ).json()
    listed = real.get("/v1/clients", headers=bearer(admin_key))
    assert listed.status_code == 200
    text = listed.text
    assert made["key"] not in text and made["key"].split("_", 3)[3] not in text
    rows = listed.json()
    assert {r["name"] for r in rows} == {"root admin", "Bank"}
    for row in rows:
        assert not {"key", "key_hash", "hash", "secret"} & set(row)
    bank = next(r for r in rows if r["name"] == "Bank")
    assert bank["scope"] == ["full_name"]


def test_expiry(real: TestClient, office: EphemeralOffice, admin_key: str) -> None:
    later = (NOW + dt.timedelta(days=1)).isoformat()
    made = real.post(
        "/v1/clients",
        json={"name": "Counter 1", "role": "clerk", "expires_at": later},
        headers=bearer(admin_key),
    ).json()
    key, client_id = made["key"], made["client"]["client_id"]
    assert real.get("/v1/readers", headers=bearer(key)).status_code == 200
    expired = real.post(
        f"/v1/clients/{client_id}/expiry", json={"at": NOW.isoformat()}, headers=bearer(admin_key)
    )
    assert expired.status_code == 200 and expired.json()["status"] == "expired"
    assert_problem(real.get("/v1/readers", headers=bearer(key)), 401)
    assert_problem(
        real.post("/v1/clients/pc_0000000000000000/expiry", json={}, headers=bearer(admin_key)),
        404,
        "client_not_found",
    )


def test_bad_requests(real: TestClient, admin_key: str) -> None:
    for body in (
        {"name": "x", "role": "emperor"},
        {"name": "", "role": "clerk"},
        {"name": "x", "role": "clerk", "scope": ["full_name"]},  # scope: relying parties only
        {"name": "x", "role": "clerk", "expires_at": (NOW - dt.timedelta(days=1)).isoformat()},
        {"name": "x", "role": "clerk", "key": "permit_pc_0_mine"},
    ):
        response = real.post("/v1/clients", json=body, headers=bearer(admin_key))
        assert response.status_code == 422, (body, response.text)


def test_no_api_key_in_the_logs(
    real: TestClient, office: EphemeralOffice, admin_key: str, secret_log: SecretLog
) -> None:
    """Create, use, list, expire and revoke through the API at debug level: the key is in
    the creation's body only, never in a log record."""
    made = real.post(
        "/v1/clients", json={"name": "Bank", "role": "relying_party"}, headers=bearer(admin_key)
    ).json()
    key, client_id = made["key"], made["client"]["client_id"]
    real.get("/v1/permits/3301062026999999X/status", headers=bearer(key))
    for bad in (key + "x", key.upper()):
        assert real.get(UNKNOWN, headers=bearer(bad)).status_code == 401
        secret_log.secret("api_key_variant", bad)
    real.get("/v1/clients", headers=bearer(admin_key))
    expired = real.post(f"/v1/clients/{client_id}/expiry", headers=bearer(admin_key))  # no body
    assert expired.json()["status"] == "expired"
    real.post(f"/v1/clients/{client_id}/revocation", headers=bearer(admin_key))
    assert real.get(UNKNOWN, headers=bearer(key)).status_code == 401
    secret_log.assert_clean(require=["api_key", "api_key_secret"], min_records=5)
