"""Errors in one place: problem+json with a stable type, no input echoed, request ids,
body and nesting limits, the generic 500."""

from __future__ import annotations

import datetime as dt
import json
import logging
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.http import Limits, create_app
from api.http.problems import STATUS_BY_KIND, status_of
from card_service.clients import ApiClient, Role, Unauthenticated
from card_service.office import EphemeralOffice
from permit_errors import ErrorKind, PermitError
from tests.dbfixtures import NOW
from tests.http.conftest import (
    application_body,
    assert_problem,
    auth,
    fake_authenticate,
    insert_blank,
    sse_events,
)

OFFICER = auth(Role.OFFICER)


def test_every_kind_has_a_status() -> None:
    assert set(STATUS_BY_KIND) == set(ErrorKind)
    expected = {
        ErrorKind.INVALID: 422,
        ErrorKind.NOT_FOUND: 404,
        ErrorKind.CONFLICT: 409,
        ErrorKind.REFUSED: 422,
        ErrorKind.UNAUTHORISED: 401,
        ErrorKind.FORBIDDEN: 403,
        ErrorKind.RATE_LIMITED: 429,
        ErrorKind.UNAVAILABLE: 503,
        ErrorKind.INTEGRITY: 422,
        ErrorKind.CONFIG: 500,
    }
    assert dict(STATUS_BY_KIND) == expected
    assert status_of(Unauthenticated("x")) == 401

    class CardAuthFailed(PermitError):
        kind = ErrorKind.UNAUTHORISED

    # a card's (or the station's) credential failing is not the caller's API key
    assert status_of(CardAuthFailed("x")) == 422


def test_not_found_is_a_problem(client: TestClient) -> None:
    body = assert_problem(client.get("/v1/permits/3301062026999999X", headers=OFFICER), 404)
    assert body["code"] == "not_found" and body["kind"] == "not_found"


def test_validation_errors_never_echo_the_input(client: TestClient) -> None:
    secret = "SECRET-citizen-110101198003130745"
    response = client.post(
        "/v1/permits/3301062026999999X/revocation",
        json={"reason": secret, "effective_at": secret, "extra": secret},
        headers=OFFICER,
    )
    body = assert_problem(response, 422, "request_invalid")
    assert secret not in response.text and "110101" not in response.text
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "reason")}
    assert all(set(e) == {"loc", "type"} for e in body["errors"])

    broken = client.post(
        "/v1/permits/3301062026999999X/revocation",
        content=b'{"reason": "' + secret.encode() + b'"',
        headers={**OFFICER, "Content-Type": "application/json"},
    )
    assert_problem(broken, 422, "request_invalid")
    assert secret not in broken.text

    bad_path = client.get(f"/v1/permits/{quote(secret + '/x')}", headers=OFFICER)
    assert secret not in bad_path.text


def test_request_ids(client: TestClient) -> None:
    mine = "client-chosen-id-0001"
    assert client.get("/healthz", headers={"X-Request-ID": mine}).headers["x-request-id"] == mine
    for bad in ("short", "x" * 200, "has space in it", "semi;colon;value"):
        answered = client.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert answered != bad and len(answered) == 32
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    problem = client.get("/v1/permits/3301062026999999X", headers={**OFFICER, "X-Request-ID": mine})
    assert problem.json()["instance"] == f"urn:request:{mine}"


def test_unknown_route_and_method(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing-here", headers=OFFICER), 404, "route_not_found")
    # without a key nothing is told, not even whether the route exists
    assert_problem(client.get("/v1/nothing-here"), 401, "unauthenticated")
    assert_problem(
        client.post("/v1/permits/X/revocation", content=b"\xff\xfe"), 401, "unauthenticated"
    )
    assert_problem(client.delete("/healthz"), 405, "method_not_allowed")


def test_an_unexpected_exception_is_a_generic_500(
    office: EphemeralOffice,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(number: str, now: dt.datetime) -> None:
        raise RuntimeError("secret internals 110101198003130745")

    monkeypatch.setattr(office, "permit_history", broken)
    with caplog.at_level(logging.ERROR, logger="api.http"):
        response = client.get(
            "/v1/permits/3301062026000001X", headers={**OFFICER, "X-Request-ID": "bug-report-0001"}
        )
    body = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.text and body["detail"] == "internal error"
    assert "bug-report-0001" in caplog.text and "/v1/permits/{number}" in caplog.text


def test_rate_limits_and_unavailable_answer_their_headers(office: EphemeralOffice) -> None:
    class Limited(PermitError):
        code = "rate_limited"
        kind = ErrorKind.RATE_LIMITED
        retry_after = 7

    def limited(key: str, now: dt.datetime) -> ApiClient:
        raise Limited("too many requests for this client")

    with TestClient(create_app(office, authenticate=limited)) as client:
        response = client.get("/v1/readers", headers=OFFICER)
        body = assert_problem(response, 429, "rate_limited")
        assert response.headers["retry-after"] == "7" and body["retry_after"] == 7


def test_the_default_authenticator_is_the_office_client_register(office: EphemeralOffice) -> None:
    """Without an injected authenticator the app asks the office's API-client register:
    a created client's key gets in (until revoked or expired); anything else is 401."""
    now = dt.datetime.now(dt.UTC)
    clerk = office.create_client("counter 3", Role.CLERK, now)
    lapsing = office.create_client(
        "counter 4", Role.CLERK, now, expires_at=now + dt.timedelta(seconds=30)
    )
    clock = [now]
    with TestClient(create_app(office, now=lambda: clock[0])) as client:
        bearer = {"Authorization": f"Bearer {clerk.key}"}
        assert client.get("/v1/readers", headers=bearer).status_code == 200
        lapsing_bearer = {"Authorization": f"Bearer {lapsing.key}"}
        assert client.get("/v1/readers", headers=lapsing_bearer).status_code == 200
        clock[0] = now + dt.timedelta(minutes=5)  # five minutes later the lapsing key has expired
        expired = client.get("/v1/readers", headers=lapsing_bearer)
        assert_problem(expired, 401, "unauthenticated")
        assert client.get("/v1/readers", headers=bearer).status_code == 200
        # a clerk may not look up permits (deny by default, by role)
        assert_problem(client.get("/v1/permits/X1", headers=bearer), 403, "forbidden")
        office.revoke_client(clerk.client.client_id, now)
        assert_problem(client.get("/v1/readers", headers=bearer), 401, "unauthenticated")
        assert_problem(client.get("/v1/readers", headers=OFFICER), 401, "unauthenticated")
        assert_problem(client.get("/v1/readers"), 401, "unauthenticated")
        assert lapsing.key not in expired.text


def test_body_limits(office: EphemeralOffice) -> None:
    limits = Limits(max_body=1024, max_json=512, max_json_depth=8)
    app = create_app(office, authenticate=fake_authenticate, now=lambda: NOW, limits=limits)
    with TestClient(app) as client:
        big = client.post(
            "/v1/applications",
            content=b'{"a": "' + b"x" * 600 + b'"}',
            headers={**OFFICER, "Content-Type": "application/json"},
        )
        assert_problem(big, 413, "body_too_large")
        other = client.post(
            "/v1/applications",
            content=b"x" * 2000,
            headers={**OFFICER, "Content-Type": "text/plain"},
        )
        assert_problem(other, 413, "body_too_large")

        def chunks() -> object:
            yield b'{"a": "'
            yield b"y" * 600
            yield b'"}'

        streamed = client.post(
            "/v1/applications",
            content=chunks(),
            headers={**OFFICER, "Content-Type": "application/json"},
        )
        assert_problem(streamed, 413, "body_too_large")

        deep = client.post(
            "/v1/applications",
            content=b"[" * 9 + b"]" * 9,
            headers={**OFFICER, "Content-Type": "application/json"},
        )
        assert_problem(deep, 422, "json_too_deep")
        # brackets inside strings are text, not nesting
        shallow = json.dumps({"applicant": "[[[[[[[[[[[[[[["}).encode()
        answer = client.post(
            "/v1/applications",
            content=shallow,
            headers={**OFFICER, "Content-Type": "application/json"},
        )
        assert answer.status_code == 422 and answer.json()["code"] != "json_too_deep"


def test_default_limits_admit_an_application_and_refuse_a_deep_one(client: TestClient) -> None:
    assert len(application_body(1)) < Limits().max_json
    deep = client.post(
        "/v1/applications",
        content=b'{"a":' * 40 + b"1" + b"}" * 40,
        headers={**OFFICER, "Content-Type": "application/json"},
    )
    assert_problem(deep, 422, "json_too_deep")


def test_the_pin_letter_is_never_logged(
    office: EphemeralOffice, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    reader = insert_blank(office)
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            f"/v1/readers/{quote(reader)}/issuance",
            content=application_body(5),
            headers={**OFFICER, "Content-Type": "application/json"},
        )
    letter = sse_events(response.text)[-1][1]["pin_letter"]
    assert letter["pin"] not in caplog.text and letter["puk"] not in caplog.text
    assert auth(Role.OFFICER)["Authorization"].split()[1] not in caplog.text


def test_a_slow_office_call_times_out(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    release = threading.Event()

    def stuck(number: str, now: dt.datetime) -> None:
        release.wait(30)

    monkeypatch.setattr(office, "permit_history", stuck)
    app = create_app(
        office, authenticate=fake_authenticate, now=lambda: NOW, limits=Limits(timeout=0.2)
    )
    try:
        with TestClient(app) as client:
            response = client.get("/v1/permits/3301062026000001X", headers=OFFICER)
            assert_problem(response, 503, "request_timeout")
    finally:
        release.set()
