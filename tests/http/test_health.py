"""Probes: /healthz, /readyz (register, keys, readers, shared store), /metrics by route
template, and the OpenAPI document served at /docs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.http import create_app
from api.http.routes import health
from card_service.clients import Role
from card_service.office import EphemeralOffice, readiness
from tests.dbfixtures import NOW
from tests.http.conftest import auth, fake_authenticate


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_on_an_ephemeral_station(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    ready = response.json()
    assert ready["ready"] is True
    assert ready["database"] == {"status": "ok", "code": None}
    assert ready["keys"]["status"] == "ok"
    assert ready["readers"]["status"] == "ok" and ready["reader_count"] == 2
    assert ready["shared_state"] == {"status": "ok", "code": "memory"}


def test_readyz_fails_with_the_database(
    office: EphemeralOffice, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import create_engine

    monkeypatch.setattr(office, "_engine_", create_engine("sqlite:////nonexistent/dir/db.sqlite"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == {"status": "failed", "code": "register_unavailable"}


class Clock:
    """The app's clock, moved by the test (``/readyz`` answers are reused within a second
    of it)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def clocked(office: EphemeralOffice, clock: Clock) -> Iterator[TestClient]:
    app = create_app(office, authenticate=fake_authenticate, now=clock)
    with TestClient(app, raise_server_exceptions=False) as made:
        yield made


def test_readyz_probes_once_per_window(
    office: EphemeralOffice,
    clocked: TestClient,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``/readyz`` is public: a flood of it must not ask the register, the key store and
    the readers each time.  Within ``Limits.ready_cache`` (1 s of the app's clock) the
    answer is reused - a failing one too - then probed again."""
    probes: list[object] = []

    def counting(office: object) -> object:
        probes.append(office)
        return readiness(office)  # type: ignore[arg-type]

    monkeypatch.setattr(health, "readiness", counting)
    answers = {clocked.get("/readyz").status_code for _ in range(25)}
    assert answers == {200} and len(probes) == 1
    clock.advance(0.5)
    assert clocked.get("/readyz").status_code == 200 and len(probes) == 1

    def down(*args: object, **kwargs: object) -> bool:
        raise ConnectionError("redis://secret@host")

    monkeypatch.setattr(office, "_shared_state", SimpleNamespace(health=down))
    clock.advance(0.6)  # a new window: probed again, and the failure is reused in turn
    answers = {clocked.get("/readyz").status_code for _ in range(25)}
    assert answers == {503} and len(probes) == 2
    clock.advance(-5)  # a clock that went back starts a new window
    assert clocked.get("/readyz").status_code == 503 and len(probes) == 3


def test_readyz_reports_the_shared_state(
    office: EphemeralOffice,
    clocked: TestClient,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = clocked

    def state(**health: object) -> SimpleNamespace:
        clock.advance(2)  # past the reuse window of the last answer
        return SimpleNamespace(health=lambda: health)

    healthy = state(backend="redis", ready=True, degraded=False)
    monkeypatch.setattr(office, "_shared_state", healthy)
    ready = client.get("/readyz").json()
    assert ready["shared_state"] == {"status": "ok", "code": "redis"} and ready["ready"]

    # Redis away: rate limits per process (still ready, and /readyz says so) ...
    degraded = state(backend="redis", ready=True, degraded=True)
    monkeypatch.setattr(office, "_shared_state", degraded)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["shared_state"] == {
        "status": "degraded",
        "code": "rate_limits_per_process",
    }

    # ... challenges cannot be consumed: not ready (they fail closed)
    failed = state(backend="redis", ready=False, degraded=True)
    monkeypatch.setattr(office, "_shared_state", failed)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["shared_state"]["status"] == "failed"

    def down() -> bool:
        raise ConnectionError("redis://secret@host")

    monkeypatch.setattr(office, "_shared_state", SimpleNamespace(health=down))
    clock.advance(2)
    response = client.get("/readyz")
    assert response.status_code == 503 and "secret" not in response.text
    assert response.json()["shared_state"]["status"] == "failed"


def test_metrics_by_route_template(client: TestClient) -> None:
    officer = auth(Role.OFFICER)
    for _ in range(3):
        client.get("/v1/permits/3301062026999999X", headers=officer)
    client.get("/v1/nothing", headers=officer)
    client.get("/v1/nothing")  # no key: 401 before any routing (deny by default)
    text = client.get("/metrics").text
    assert "3301062026999999X" not in text and "/v1/nothing" not in text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    key = (
        "permit_http_requests_total",
        (("method", "GET"), ("route", "/v1/permits/{number}"), ("status", "404")),
    )
    assert samples[key] == 3
    unmatched = ("method", "GET"), ("route", "<unmatched>"), ("status", "404")
    assert samples[("permit_http_requests_total", unmatched)] == 1
    anonymous = ("method", "GET"), ("route", "<unmatched>"), ("status", "401")
    assert samples[("permit_http_requests_total", anonymous)] == 1
    count = (
        "permit_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/v1/permits/{number}"), ("status", "404")),
    )
    assert samples[count] == 3


def test_openapi_is_served(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["info"]["title"] == "permit"
    for name in ("Problem", "Progress", "Issued", "Verification", "Permit", "Decision"):
        assert name in document["components"]["schemas"], name
    issuance = document["paths"]["/v1/readers/{reader}/issuance"]["post"]
    assert "text/event-stream" in issuance["responses"]["200"]["content"]
    assert issuance["requestBody"]["content"]["application/json"]["example"]["format"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_every_keyed_operation_with_a_body_declares_the_body_timeout(client: TestClient) -> None:
    """``BodyLimits`` answers 408 ``body_timeout`` to a body that stops arriving: every
    keyed operation with a body says so (a problem document, with an example)."""
    document = client.get("/openapi.json").json()
    with_body = {
        (path, method): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation and "x-permit-roles" in operation
    }
    assert ("/v1/verifications", "post") in with_body
    assert ("/v1/applications", "post") in with_body
    for where, operation in with_body.items():
        declared = operation["responses"].get("408")
        assert declared is not None, where
        content = declared["content"]["application/problem+json"]
        assert content["schema"] == {"$ref": "#/components/schemas/Problem"}, where
        assert content["example"]["status"] == 408 and content["example"]["code"] == "body_timeout"
    # and only there: a route without a body has no body to wait for
    assert "408" not in document["paths"]["/v1/permits/{number}"]["get"]["responses"]


def test_a_stuck_clock_does_not_keep_a_ready_answer(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's clock stops (a wall clock stepped back as far as time went on, a clock
    source that froze): a 'ready' answer is still reused for no more than
    ``Limits.ready_cache`` of real time, so a register gone down is reported."""
    import time

    from sqlalchemy import create_engine

    from api.http.deps import Limits

    stuck = Clock()
    app = create_app(
        office, authenticate=fake_authenticate, now=stuck, limits=Limits(ready_cache=0.2)
    )
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        broken = create_engine("sqlite:////nonexistent/dir/db.sqlite")
        monkeypatch.setattr(office, "_engine_", broken)
        time.sleep(0.3)  # longer than the window, in real time; the app's clock stands still
        assert client.get("/readyz").status_code == 503
