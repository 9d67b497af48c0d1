"""The HTTP service on an ephemeral office with simulated readers, and a fake authenticator
with one fixed key per role (the real client register is the office's)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http import create_app
from api.http.deps import Limits
from card_service.clients import ApiClient, Role, Unauthenticated
from card_service.office import EphemeralOffice, ephemeral_office
from card_service.record.ephemeral_pki import EphemeralPki
from card_service.workflows.application import synthetic_application
from simulators.card import SimulatedCard
from tests.dbfixtures import NOW

PKI = EphemeralPki.create(NOW - dt.timedelta(days=30))

#: One fixed key per role.
KEYS: dict[Role, str] = {role: f"test-key-{role.value}-0123456789" for role in Role}
CLIENTS = {
    key: ApiClient(client_id=f"client-{role.value}", name=f"test {role.value}", role=role)
    for role, key in KEYS.items()
}


def fake_authenticate(key: str, now: dt.datetime) -> ApiClient:
    assert now.tzinfo is not None
    try:
        return CLIENTS[key]
    except KeyError:
        raise Unauthenticated("unknown, expired or revoked API key") from None


def auth(role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


@pytest.fixture
def office() -> Iterator[EphemeralOffice]:
    with ephemeral_office(NOW, pki=PKI) as made:
        yield made


@pytest.fixture
def app(office: EphemeralOffice) -> FastAPI:
    # reader-event streams end quickly: a whole-body client (the role matrix) reads one
    return create_app(
        office, authenticate=fake_authenticate, now=lambda: NOW, limits=Limits(event_stream=0.3)
    )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as made:
        yield made


def insert_blank(office: EphemeralOffice, slot: int = 0) -> str:
    station = office.station
    card = SimulatedCard.manufacture(
        master_keys={station.kvn: station.master_key}, kvn=station.kvn, durable=False
    )
    reader: str = station.driver.insert(slot, card)  # type: ignore[attr-defined]
    return reader


def application_body(seed: int = 1) -> bytes:
    return json.dumps(synthetic_application(NOW, seed=seed).to_json()).encode()


def sse_events(text: str) -> list[tuple[str, Any]]:
    """The (event, data) pairs of a server-sent event stream."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == f"urn:permit:problem:{body['code']}"
    assert body["title"] and body["detail"]
    assert body["instance"] == f"urn:request:{response.headers['x-request-id']}"
    if code is not None:
        assert body["code"] == code
    return body
