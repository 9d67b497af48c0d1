"""Redis unavailable, end to end through HTTP (issue 11, section 5, "Faults").

The service's shared store is a Redis the test starts itself and kills in the middle (and,
separately, a port where nothing listens):

* nonces fail closed: creating a challenge and spending one are 503
  ``shared_state_unavailable`` (problem+json, never VALID); the refused verification is in
  the audit log; a nonce issued before the outage never yields VALID after it (a Redis
  restarted without persistence has forgotten it);
* rate limits fall back to this process's memory (still enforced: 429 with Retry-After) and
  ``/readyz`` says so (``rate_limits``: ``degraded``, ``rate_limits_per_process``) beside the
  failed ``shared_state`` check (503: challenges cannot be spent);
* when Redis is back, the same service (no restart) issues and spends challenges again, its
  rate limits are shared again and ``/readyz`` is ready.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.http import create_app
from card_service.clients import Role
from card_service.office import AUDIT_PAGE_MAX, EphemeralOffice, Sandbox, Settings
from card_service.workflows.application import synthetic_application
from reader_drivers.sim import SimReaderDriver
from tests.dbfixtures import NOW
from tests.faults.live import actor, authenticate, headers, live_server, problem_code
from tests.http.conftest import PKI, insert_blank
from tests.shared_state.conftest import PrivateRedis, free_port

STATUS_LIMIT = 3  # status requests a minute, per client


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _office(tmp_path: Path, redis_url: str) -> EphemeralOffice:
    station = Sandbox.create(
        f"sqlite:///{tmp_path / 'register.db'}", SimReaderDriver(slots=2), NOW, pki=PKI
    )
    settings = Settings.from_env(
        {
            "PERMIT_REDIS_URL": redis_url,
            "PERMIT_REDIS_PREFIX": "permit-fault:",
            "PERMIT_RATE_LIMITS": f"status={STATUS_LIMIT}/60",
        }
    )
    return station.office(settings)


@pytest.fixture
def served(
    tmp_path: Path, private_redis: PrivateRedis, clock: Clock
) -> Iterator[tuple[EphemeralOffice, httpx.Client]]:
    office = _office(tmp_path, private_redis.url)
    app = create_app(office, authenticate=authenticate, now=clock)
    with office, live_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield office, client


def _challenge(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/v1/challenges", headers=headers(Role.RELYING_PARTY, name))


def _verify(
    office: EphemeralOffice, client: httpx.Client, reader: str, name: str, nonce: str
) -> httpx.Response:
    body = office.present_card(reader, nonce, ["full_name"]).to_json()
    return client.post("/v1/verifications", json=body, headers=headers(Role.RELYING_PARTY, name))


def _status(client: httpx.Client, number: str, name: str) -> httpx.Response:
    return client.get(f"/v1/permits/{number}/status", headers=headers(Role.RELYING_PARTY, name))


def _audit(office: EphemeralOffice, who: str) -> list[str]:
    entries = office.audit_entries(after=0, limit=AUDIT_PAGE_MAX)
    return [e.result for e in entries if e.action == "permit.verify" and e.actor == who]


def _ready(client: httpx.Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


def test_redis_killed_and_back(
    served: tuple[EphemeralOffice, httpx.Client], private_redis: PrivateRedis, clock: Clock
) -> None:
    office, client = served
    reader = insert_blank(office)
    number = office.issue(synthetic_application(NOW, seed=7), reader, NOW).permit_number
    status, ready = _ready(client)
    assert status == 200 and ready["shared_state"] == {"status": "ok", "code": "redis"}
    assert ready["rate_limits"] == {"status": "ok", "code": "redis"}

    first = _challenge(client, "bank")
    assert first.status_code == 201
    answer = _verify(office, client, reader, "bank", first.json()["nonce"]).json()
    assert answer["verdict"] == "VALID"
    pending = _challenge(client, "bank").json()["nonce"]  # issued, not yet spent

    private_redis.kill()
    refused = _challenge(client, "bank")
    assert refused.status_code == 503 and problem_code(refused) == "shared_state_unavailable"
    spent = _verify(office, client, reader, "bank", pending)
    assert spent.status_code == 503 and problem_code(spent) == "shared_state_unavailable"
    assert "VALID" not in spent.text
    assert _audit(office, actor(Role.RELYING_PARTY, "bank")) == [
        "passed",
        "failed:shared_state_unavailable",
    ]
    # rate limits: per process now, still enforced
    for _ in range(STATUS_LIMIT):
        assert _status(client, number, "shop").json() == {"status": "valid"}
    limited = _status(client, number, "shop")
    assert limited.status_code == 429 and problem_code(limited) == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    clock.advance(2)  # past the reuse window of the last /readyz answer (Limits.ready_cache)
    status, ready = _ready(client)
    assert status == 503 and not ready["ready"]
    assert ready["shared_state"] == {"status": "failed", "code": "shared_state_unavailable"}
    assert ready["rate_limits"] == {"status": "degraded", "code": "rate_limits_per_process"}
    assert ready["database"]["status"] == "ok"

    private_redis.start()  # the same port, empty: no persistence
    clock.advance(2)  # the limiter asks Redis again after a second of its clock
    again = _challenge(client, "bank")
    assert again.status_code == 201, again.text
    # the pending nonce was forgotten with the restart: never VALID
    stale = _verify(office, client, reader, "bank", pending)
    assert stale.status_code == 200
    assert (stale.json()["verdict"], stale.json()["challenge"]) == ("INVALID", "unknown")
    fresh = _verify(office, client, reader, "bank", again.json()["nonce"]).json()
    assert fresh["verdict"] == "VALID"
    # rate limits are shared again: Redis's count for this window starts at the restart
    assert _status(client, number, "shop").status_code == 200
    status, ready = _ready(client)
    assert status == 200 and ready["ready"]
    assert ready["shared_state"] == {"status": "ok", "code": "redis"}
    assert ready["rate_limits"] == {"status": "ok", "code": "redis"}
    assert _audit(office, actor(Role.RELYING_PARTY, "bank")) == [
        "passed",
        "failed:shared_state_unavailable",
        "failed:challenge_unknown",
        "passed",
    ]


def test_redis_never_there(tmp_path: Path, clock: Clock) -> None:
    """A service configured with Redis at a port where nothing listens: it serves what does
    not need nonces, limits per process, and is not ready."""
    office = _office(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(office, authenticate=authenticate, now=clock)
    with office, live_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        # before any request was limited: the next decision will be per process, and it says so
        status, ready = _ready(client)
        assert status == 503
        assert ready["shared_state"] == {"status": "failed", "code": "shared_state_unavailable"}
        assert ready["rate_limits"] == {"status": "degraded", "code": "rate_limits_per_process"}
        reader = insert_blank(office)
        number = office.issue(synthetic_application(NOW, seed=8), reader, NOW).permit_number
        refused = _challenge(client, "bank")
        assert refused.status_code == 503 and problem_code(refused) == "shared_state_unavailable"
        # a nonce nobody could have issued: still 503 (the store is asked first), never VALID
        guessed = _verify(office, client, reader, "bank", "A" * 43)
        assert guessed.status_code == 503 and "VALID" not in guessed.text
        for _ in range(STATUS_LIMIT):
            assert _status(client, number, "shop").status_code == 200
        assert _status(client, number, "shop").status_code == 429
        status, ready = _ready(client)
        assert status == 503
        assert ready["shared_state"] == {"status": "failed", "code": "shared_state_unavailable"}
        assert ready["rate_limits"] == {"status": "degraded", "code": "rate_limits_per_process"}
