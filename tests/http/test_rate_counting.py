"""Every keyed request is counted once against its route's rate class, on the way in:
the middleware authenticates and counts in one worker-thread hop (the hot path of a relying
party's verification), the role guard decides on that count, and counts by itself whatever
the middleware did not count for its class (never a request uncounted)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.middleware import Middleware

from api.http import create_app
from api.http.deps import Limits, rate_class_of
from api.http.middleware import RequireCredentials
from api.http.openapi import api_routes, rate_classes
from card_service.clients import Role
from card_service.office import EphemeralOffice
from card_service.shared_state.model import RateDecision
from tests.dbfixtures import NOW
from tests.http.conftest import auth, fake_authenticate

_PARAM = re.compile(r"\{[^}]+\}")


def _concrete(path: str) -> str:
    return _PARAM.sub("x1", path)


def test_the_middleware_knows_the_rate_class_of_every_guarded_route(app: FastAPI) -> None:
    classify = rate_classes(app)
    guarded = [(info, rate_class_of(info.route)) for info in api_routes(app)]
    assert sum(found is not None for _, found in guarded) >= 15
    for info, found in guarded:
        for method in info.methods:
            scope = {"type": "http", "method": method, "path": _concrete(info.path)}
            assert classify(scope) == found, (method, info.path)
    assert classify({"type": "http", "method": "GET", "path": "/v1/nowhere"}) is None
    assert classify({"type": "http", "method": "DELETE", "path": "/v1/challenges"}) is None


class _Counting:
    """The office's limiter, counting the hits it is asked for (and allowing them)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.hits: list[tuple[str, str]] = []
        self.threads: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def hit(self, client_id: str, route_class: str, now: dt.datetime) -> RateDecision:
        self.hits.append((client_id, route_class))
        self.threads.append(threading.get_ident())
        decision: RateDecision = self.inner.hit(client_id, route_class, now)
        return decision

    def hit_many(self, hits: Sequence[tuple[str, str, dt.datetime]]) -> list[RateDecision]:
        return [self.hit(*one) for one in hits]


@pytest.fixture
def counting(office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Counting]:
    limiter = _Counting(office.shared_state.limiter)
    monkeypatch.setattr(office.shared_state, "limiter", limiter)
    yield limiter


@pytest.mark.parametrize(
    ("method", "path", "role", "rate_class"),
    [
        ("POST", "/v1/challenges", Role.RELYING_PARTY, "challenges"),
        ("GET", "/v1/permits/330106202600000001/status", Role.CLERK, "status"),
        ("GET", "/v1/readers", Role.OFFICER, "default"),
    ],
)
def test_one_count_per_request_in_its_class_in_the_authentication_hop(
    office: EphemeralOffice,
    counting: _Counting,
    method: str,
    path: str,
    role: Role,
    rate_class: str,
) -> None:
    authenticated: list[int] = []

    def authenticate(key: str, now: dt.datetime) -> Any:
        authenticated.append(threading.get_ident())
        return fake_authenticate(key, now)

    app = create_app(office, authenticate=authenticate, now=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.request(method, path, headers=auth(role))
    assert counting.hits == [(f"client-{role.value}", rate_class)]
    assert counting.threads == authenticated  # one worker-thread hop for both


def test_a_forbidden_role_is_403_even_over_its_limit(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = "default=1/60,challenges=1/60,status=1/60"
    monkeypatch.setattr(office.shared_state.limiter, "limits", _limits(limits))
    app = create_app(office, authenticate=fake_authenticate, now=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post("/v1/challenges", headers=auth(Role.CLERK)).status_code == 403
        assert c.post("/v1/challenges", headers=auth(Role.CLERK)).status_code == 403
        assert c.post("/v1/challenges", headers=auth(Role.RELYING_PARTY)).status_code == 201
        assert c.post("/v1/challenges", headers=auth(Role.RELYING_PARTY)).status_code == 429


def _limits(text: str) -> Any:
    from card_service.shared_state.model import RateLimits

    return RateLimits.parse(text)


def test_the_guard_counts_what_the_middleware_did_not(
    office: EphemeralOffice, counting: _Counting
) -> None:
    """A middleware that classifies nothing (or wrongly): the guard still counts each
    request once in its own class."""
    app = create_app(office, authenticate=fake_authenticate, now=lambda: NOW, limits=Limits())
    for i, layer in enumerate(app.user_middleware):
        if layer.cls is RequireCredentials:  # type: ignore[comparison-overlap]
            kwargs: dict[str, Any] = {**layer.kwargs, "rate_class": lambda _scope: "status"}
            app.user_middleware[i] = Middleware(RequireCredentials, **kwargs)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post("/v1/challenges", headers=auth(Role.RELYING_PARTY)).status_code == 201
    assert counting.hits == [
        ("client-relying_party", "status"),  # the middleware's (wrong) class
        ("client-relying_party", "challenges"),  # the guard's own count
    ]
