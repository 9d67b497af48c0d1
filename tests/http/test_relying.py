"""Relying parties over HTTP: challenge -> the card answers (the terminal's use case) ->
presentation -> VALID with only the scoped elements; nonces that never yield VALID; scope
refusals; the status route; rate limits (429, Retry-After); the shared store down (503)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from api.http import create_app
from card_service.clients import ApiClient, Role, Unauthenticated
from card_service.office import (
    ChallengeOutcome,
    EphemeralOffice,
    SharedState,
    SharedStateUnavailable,
)
from card_service.shared_state import MemoryChallengeStore, MemoryRateLimiter, on_redis
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.http.conftest import CLIENTS, KEYS, assert_problem, insert_blank
from tests.http.test_roles import _routes
from tests.shared_state.conftest import prefix, redis_url  # noqa: F401 (fixtures)

BANK_KEY, SHOP_KEY = "test-key-bank-0123456789", "test-key-shop-0123456789"
SCOPED = {
    BANK_KEY: ApiClient(
        "client-bank", "bank", Role.RELYING_PARTY, frozenset({"full_name", "expiry_date"})
    ),
    SHOP_KEY: ApiClient("client-shop", "shop", Role.RELYING_PARTY, frozenset({"residence_began"})),
}
BANK, SHOP = {"Authorization": f"Bearer {BANK_KEY}"}, {"Authorization": f"Bearer {SHOP_KEY}"}


def _authenticate(key: str, now: dt.datetime) -> ApiClient:
    known = {**CLIENTS, **SCOPED}
    if key not in known:
        raise Unauthenticated("unknown, expired or revoked API key")
    return known[key]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rp(office: EphemeralOffice, clock: Clock) -> Iterator[TestClient]:
    app = create_app(office, authenticate=_authenticate, now=clock)
    with TestClient(app, raise_server_exceptions=False) as made:
        yield made


def _issued(office: EphemeralOffice) -> tuple[str, str]:
    reader = insert_blank(office)
    return reader, office.issue(synthetic_application(NOW, seed=3), reader, NOW).permit_number


def _challenge(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/v1/challenges", headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _body(office: EphemeralOffice, reader: str, nonce: str, *elements: str) -> dict[str, str]:
    return office.present_card(reader, nonce, elements).to_json()


def test_challenge_then_verification_discloses_only_the_scope(
    office: EphemeralOffice, rp: TestClient
) -> None:
    reader, number = _issued(office)
    issued = _challenge(rp, BANK)
    assert len(issued["nonce"]) == 43 and issued["ttl_seconds"] == 120
    assert dt.datetime.fromisoformat(issued["expires_at"]) == NOW + dt.timedelta(seconds=120)
    body = _body(office, reader, issued["nonce"], "full_name", "expiry_date")
    response = rp.post("/v1/verifications", json=body, headers=BANK)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["verdict"] == "VALID" and answer["reasons"] == []
    assert answer["challenge"] == "consumed"
    assert set(answer["elements"]) == {
        "full_name",
        "expiry_date",
        "permit_number",
        "first_endorsement_due",
    }
    assert answer["elements"]["permit_number"] == number
    dt.date.fromisoformat(answer["elements"]["expiry_date"])
    assert answer["years_of_residence"] is None
    # the same body again: replayed, never VALID
    again = rp.post("/v1/verifications", json=body, headers=BANK).json()
    assert again["verdict"] == "INVALID" and again["challenge"] == "replayed"
    assert [r["code"] for r in again["reasons"]] == ["challenge_replayed"]
    assert again["elements"] == {}


def test_expired_other_clients_and_unknown_nonces(
    office: EphemeralOffice, rp: TestClient, clock: Clock
) -> None:
    reader, _ = _issued(office)
    nonce = _challenge(rp, BANK)["nonce"]
    body = _body(office, reader, nonce, "full_name")
    clock.now = NOW + dt.timedelta(seconds=120)
    expired = rp.post("/v1/verifications", json=body, headers=BANK).json()
    assert (expired["verdict"], expired["challenge"]) == ("INVALID", "expired")
    assert expired["reasons"][0]["code"] == "challenge_expired"
    clock.now = NOW

    theirs = _challenge(rp, SHOP)["nonce"]
    body = _body(office, reader, theirs, "residence_began")
    stolen = rp.post("/v1/verifications", json=body, headers=BANK).json()
    assert (stolen["verdict"], stolen["challenge"]) == ("INVALID", "other_client")
    burned = rp.post("/v1/verifications", json=body, headers=SHOP).json()
    assert burned["verdict"] != "VALID"

    body["nonce"] = "B" * 43
    unknown = rp.post("/v1/verifications", json=body, headers=SHOP).json()
    assert (unknown["verdict"], unknown["challenge"]) == ("INVALID", "unknown")


def test_elements_outside_the_scope_are_refused(office: EphemeralOffice, rp: TestClient) -> None:
    reader, _ = _issued(office)
    nonce = _challenge(rp, SHOP)["nonce"]
    body = _body(office, reader, nonce, "residence_began", "full_name", "portrait")
    response = rp.post("/v1/verifications", json=body, headers=SHOP)
    problem = assert_problem(response, 403, "presentation_out_of_scope")
    assert "elements" not in problem and "VALID" not in response.text


def test_a_bad_presentation_body_is_422(rp: TestClient) -> None:
    bad = {"format": "permit-presentation/1", "nonce": "x", "record": "!!", "card_signature": "A"}
    assert_problem(rp.post("/v1/verifications", json=bad, headers=BANK), 422)
    wrong = {**bad, "record": "AAAA", "card_signature": "A" * 200}
    assert_problem(rp.post("/v1/verifications", json=wrong, headers=BANK), 422)


def test_status_route(office: EphemeralOffice, rp: TestClient, clock: Clock) -> None:
    _, number = _issued(office)
    for headers in (BANK, {"Authorization": f"Bearer {KEYS[Role.CLERK]}"}):
        response = rp.get(f"/v1/permits/{number}/status", headers=headers)
        assert response.status_code == 200 and response.json() == {"status": "valid"}
    assert_problem(rp.get("/v1/permits/330106202699999999/status", headers=BANK), 404)
    office.revoke(number, "stolen", NOW)
    clock.now = NOW + dt.timedelta(seconds=1)
    assert rp.get(f"/v1/permits/{number}/status", headers=BANK).json() == {"status": "revoked"}


def test_status_route_is_rate_limited(rp: TestClient) -> None:
    path = "/v1/permits/330106202699999999/status"
    for _ in range(30):  # the default limit of the status class: 30 a minute
        assert rp.get(path, headers=BANK).status_code == 404
    limited = rp.get(path, headers=BANK)
    problem = assert_problem(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert problem["retry_after"] == int(limited.headers["retry-after"])
    # per client: another client is not limited by the bank's requests
    assert rp.get(path, headers=SHOP).status_code == 404
    # and per route class: the bank may still ask for challenges
    assert rp.post("/v1/challenges", headers=BANK).status_code == 201


class _DownStore(MemoryChallengeStore):
    def consume(self, nonce: str, client_id: str, now: dt.datetime) -> ChallengeOutcome:
        raise SharedStateUnavailable("the shared store did not answer")


def test_shared_store_down_is_503_and_never_valid(
    office: EphemeralOffice, rp: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, _ = _issued(office)
    body = _body(office, reader, _challenge(rp, BANK)["nonce"], "full_name")
    monkeypatch.setattr(
        office, "_shared_state", SharedState("memory", _DownStore(), MemoryRateLimiter())
    )
    response = rp.post("/v1/verifications", json=body, headers=BANK)
    assert_problem(response, 503, "shared_state_unavailable")
    assert "VALID" not in response.text


def _register_down(*args: object, **kwargs: object) -> object:
    raise OperationalError("SELECT", {}, Exception("server closed the connection"))


def test_a_503_after_the_nonce_was_spent_never_lets_the_nonce_pass_again(
    office: EphemeralOffice, rp: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 on ``POST /v1/verifications`` has already spent the nonce: the register fails
    after the nonce was consumed -> 503; the terminal retries the same presentation -> the
    nonce is replayed (INVALID), never VALID: it must ask a new challenge."""
    reader, _ = _issued(office)
    body = _body(office, reader, _challenge(rp, BANK)["nonce"], "full_name")
    for register in (office.reader_register(), office.station.register):
        monkeypatch.setattr(register, "permit_facts_each", _register_down)  # the batch's look-up
    response = rp.post("/v1/verifications", json=body, headers=BANK)
    assert_problem(response, 503, "register_unavailable")
    monkeypatch.undo()  # the register answers again
    again = rp.post("/v1/verifications", json=body, headers=BANK)
    assert again.status_code == 200, again.text
    answer = again.json()
    assert (answer["verdict"], answer["challenge"]) == ("INVALID", "replayed")
    assert [r["code"] for r in answer["reasons"]] == ["challenge_replayed"]
    assert answer["elements"] == {}
    # a new challenge, the same card: VALID
    fresh = _body(office, reader, _challenge(rp, BANK)["nonce"], "full_name")
    assert rp.post("/v1/verifications", json=fresh, headers=BANK).json()["verdict"] == "VALID"


class _AnswerLost:
    """A shared store that spends the nonce and then does not answer (the reply lost)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def consume(self, nonce: str, client_id: str, now: dt.datetime) -> ChallengeOutcome:
        self.store.consume(nonce, client_id, now)
        raise SharedStateUnavailable("the shared store did not answer")

    def consume_many(self, claims: Any) -> list[ChallengeOutcome]:
        self.store.consume_many(claims)  # spent, then the reply lost
        raise SharedStateUnavailable("the shared store did not answer")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_a_shared_store_503_may_have_spent_the_nonce(
    office: EphemeralOffice, rp: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, _ = _issued(office)
    body = _body(office, reader, _challenge(rp, BANK)["nonce"], "full_name")
    state = office.shared_state
    lossy = SharedState(state.backend, _AnswerLost(state.challenges), state.limiter)
    monkeypatch.setattr(office, "_shared_state", lossy)
    assert_problem(rp.post("/v1/verifications", json=body, headers=BANK), 503)
    monkeypatch.undo()
    answer = rp.post("/v1/verifications", json=body, headers=BANK).json()
    assert (answer["verdict"], answer["challenge"]) == ("INVALID", "replayed")


def test_openapi_documents_the_relying_routes(rp: TestClient) -> None:
    paths = rp.get("/openapi.json").json()["paths"]
    for path, method in (
        ("/v1/challenges", "post"),
        ("/v1/verifications", "post"),
        ("/v1/permits/{number}/status", "get"),
    ):
        operation = paths[path][method]
        assert "429" in operation["responses"] and "401" in operation["responses"]
        assert operation["x-permit-roles"]


def test_the_role_matrix_walks_the_relying_routes(app: FastAPI) -> None:
    """tests/http/test_roles.py walks every declared route: these are among them, with
    the roles they declare (and their rate class)."""
    declared = {(method, path): roles for method, path, roles in _routes(app)}
    assert declared[("POST", "/v1/challenges")] == {"relying_party"}
    assert declared[("POST", "/v1/verifications")] == {"relying_party"}
    assert declared[("GET", "/v1/permits/{number}/status")] == {
        "relying_party",
        "clerk",
        "officer",
    }


def test_on_redis_a_nonce_spent_by_one_worker_is_spent_for_all(
    office: EphemeralOffice,
    rp: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,  # noqa: F811 (the shared-state fixture)
    prefix: str,  # noqa: F811
) -> None:
    """Two connections to one Redis (two workers): issued through one, spent through the
    other, replayed through the first."""
    first, second = on_redis(redis_url, prefix), on_redis(redis_url, prefix)
    try:
        reader, _ = _issued(office)
        monkeypatch.setattr(office, "_shared_state", first)
        body = _body(office, reader, _challenge(rp, BANK)["nonce"], "full_name")
        monkeypatch.setattr(office, "_shared_state", second)
        assert rp.post("/v1/verifications", json=body, headers=BANK).json()["verdict"] == "VALID"
        monkeypatch.setattr(office, "_shared_state", first)
        again = rp.post("/v1/verifications", json=body, headers=BANK).json()
        assert (again["verdict"], again["challenge"]) == ("INVALID", "replayed")
    finally:
        first.close()
        second.close()
