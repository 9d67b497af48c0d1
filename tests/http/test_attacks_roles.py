"""Attacks on roles and scopes: an administrator making a client outside the enums (or
smuggling the fields the register sets itself), roles reaching for each other's routes
(an officer reading the audit log, an administrator issuing), client ids bent in paths.
Every refusal is a 4xx and leaves the register of clients as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.http import create_app
from card_service.clients import Role
from card_service.office import EphemeralOffice
from tests.dbfixtures import NOW
from tests.http.conftest import assert_problem


@pytest.fixture
def admin_key(office: EphemeralOffice) -> str:
    return office.create_client("root admin", "admin", NOW, actor="bootstrap").key


@pytest.fixture
def real(office: EphemeralOffice) -> Iterator[TestClient]:
    with TestClient(create_app(office, now=lambda: NOW), raise_server_exceptions=False) as made:
        yield made


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


BAD_CLIENTS: list[Any] = [
    {"name": "x", "role": "superuser"},
    {"name": "x", "role": "ADMIN"},
    {"name": "x", "role": " admin"},
    {"name": "x", "role": "admin\u0000"},
    {"name": "x", "role": "relying-party"},
    {"name": "x", "role": 4},
    {"name": "x", "role": None},
    {"name": "x", "role": ["admin"]},
    {"name": "x"},
    {"name": "x", "role": "relying_party", "scope": ["Full_Name"]},
    {"name": "x", "role": "relying_party", "scope": ["full_name "]},
    {"name": "x", "role": "relying_party", "scope": ["*"]},
    {"name": "x", "role": "relying_party", "scope": ["full_name", "citizen_id_hmac"]},
    {"name": "x", "role": "relying_party", "scope": "full_name"},
    {"name": "x", "role": "relying_party", "scope": [1]},
    {"name": "x", "role": "relying_party", "scope": [["full_name"]]},
    {"name": "x", "role": "relying_party", "scope": ["full_name"] * 65},
    {"name": "x", "role": "officer", "scope": ["full_name"]},
    {"name": "x", "role": "admin", "scope": ["portrait"]},
    {"name": "", "role": "clerk"},
    {"name": "a\u202eb", "role": "clerk"},
    {"name": "a\nb", "role": "clerk"},
    {"name": "x" * 129, "role": "clerk"},
    {"name": "x", "role": "clerk", "expires_at": "2020-01-01T00:00:00"},  # naive
    {"name": "x", "role": "clerk", "expires_at": (NOW - dt.timedelta(seconds=1)).isoformat()},
    {"name": "x", "role": "clerk", "client_id": "pc_0000000000000000"},
    {"name": "x", "role": "clerk", "key": "permit_pc_0000000000000000_" + "A" * 43},
    {"name": "x", "role": "clerk", "key_hash": "00" * 32},
    {"name": "x", "role": "clerk", "created_by": "someone-else"},
    {"name": "x", "role": "clerk", "actor": "someone-else"},
    {"name": "x", "role": "clerk", "status": "active", "revoked_at": None},
    ["name", "role"],
    "admin",
]


def test_clients_outside_the_rules_are_refused_and_nothing_is_made(
    real: TestClient, office: EphemeralOffice, admin_key: str
) -> None:
    before = [c.client_id for c in office.list_clients(NOW)]
    for body in BAD_CLIENTS:
        response = real.post("/v1/clients", json=body, headers=_bearer(admin_key))
        assert_problem(response, 422)
        assert "key" not in response.json()
    assert [c.client_id for c in office.list_clients(NOW)] == before


def test_the_audit_actor_is_the_calling_admin_not_the_body(
    real: TestClient, office: EphemeralOffice, admin_key: str
) -> None:
    admin = office.authenticate_client(admin_key, NOW)
    made = real.post(
        "/v1/clients", json={"name": "Desk", "role": "clerk"}, headers=_bearer(admin_key)
    )
    assert made.status_code == 201
    assert made.json()["client"]["created_by"] == f"api:admin:{admin.client_id}"


@pytest.mark.parametrize(
    ("role", "method", "path"),
    [
        ("officer", "GET", "/v1/audit/entries"),
        ("officer", "POST", "/v1/audit/verification"),
        ("officer", "GET", "/v1/audit/checkpoints"),
        ("officer", "GET", "/v1/clients"),
        ("clerk", "POST", "/v1/clients"),
        ("clerk", "POST", "/v1/permits/3301062026999999X/revocation"),
        ("clerk", "GET", "/v1/permits/3301062026999999X"),
        ("relying_party", "GET", "/v1/permits/3301062026999999X"),
        ("relying_party", "POST", "/v1/readers/Permit%20Sim%20Reader%201/verification"),
        ("relying_party", "GET", "/v1/readers"),
        ("relying_party", "GET", "/v1/audit/entries"),
        ("auditor", "POST", "/v1/clients"),
        ("auditor", "GET", "/v1/permits/3301062026999999X/status"),
        ("admin", "GET", "/v1/audit/entries"),  # an administrator is not everyone
        ("admin", "POST", "/v1/applications"),
        ("admin", "POST", "/v1/permits/3301062026999999X/revocation"),
        ("admin", "POST", "/v1/challenges"),
        ("admin", "GET", "/v1/permits/3301062026999999X/status"),
    ],
)
def test_roles_do_not_reach_each_other(
    real: TestClient, office: EphemeralOffice, role: str, method: str, path: str
) -> None:
    key = office.create_client(f"a {role}", role, NOW).key
    for extra in ({}, {"X-HTTP-Method-Override": "GET"}, {"X-Permit-Role": "admin"}):
        response = real.request(method, path, json={}, headers={**_bearer(key), **extra})
        assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize(
    "client_id",
    [
        "pc_0000000000000000%00",
        "..%2Fpc_0000000000000000",
        "pc_0000000000000000;drop",
        "PC_0000000000000000",
        "pc_" + "0" * 61,
        "%20",
    ],
)
def test_bent_client_ids_in_paths(real: TestClient, admin_key: str, client_id: str) -> None:
    for action in ("expiry", "revocation"):
        response = real.post(f"/v1/clients/{client_id}/{action}", headers=_bearer(admin_key))
        assert response.status_code in (404, 422), (client_id, response.text)


def test_a_revoked_client_stays_revoked(
    real: TestClient, office: EphemeralOffice, admin_key: str
) -> None:
    made = office.create_client("shop", "relying_party", NOW)
    office.revoke_client(made.client.client_id, NOW)
    later = (NOW + dt.timedelta(days=365)).isoformat()
    response = real.post(
        f"/v1/clients/{made.client.client_id}/expiry",
        json={"at": later},
        headers=_bearer(admin_key),
    )
    assert_problem(response, 409, "client_revoked")
    assert_problem(real.post("/v1/challenges", headers=_bearer(made.key)), 401)
    assert Role(office.authenticate_client(admin_key, NOW).role) is Role.ADMIN
