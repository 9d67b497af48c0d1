"""What happens around requests: a client that leaves mid-issuance, the start-up
reconciliation of ``permit serve``, the lifespan hooks."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from fastapi.testclient import TestClient

from api.cli.serve import reconcile_at_start
from api.http import create_app
from card_service.clients import Role
from card_service.office import EphemeralOffice
from tests.dbfixtures import NOW
from tests.http.conftest import application_body, auth, fake_authenticate, insert_blank


def test_a_client_leaving_mid_issuance_does_not_cut_it_off(office: EphemeralOffice) -> None:
    reader = insert_blank(office)
    app = create_app(office, authenticate=fake_authenticate, now=lambda: NOW)
    sent: list[dict[str, Any]] = []
    body = application_body(11)
    key = auth(Role.OFFICER)["Authorization"].encode()
    scope = {
        "type": "http",
        "asgi": {
            "version": "3.0",
            "spec_version": "2.0",
        },  # 2.0: Starlette listens for the disconnect
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/v1/readers/{reader}/issuance",
        "raw_path": f"/v1/readers/{quote(reader)}/issuance".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", key),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }

    async def scenario() -> None:
        first = True
        started = anyio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": body, "more_body": False}
            await started.wait()  # the stream has begun: now the client goes away
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.start":
                started.set()

        with anyio.fail_after(120):
            await app(scope, receive, send)

    anyio.run(scenario)
    assert sent[0]["status"] == 200
    streamed = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert b"event: result" not in streamed  # the client was gone before the end
    # the issuance finished although nobody listened: the card verifies
    check = office.verify_card(reader, NOW)
    assert check.passed, check.problems


def test_start_up_reconciliation_logs_and_never_fails(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="api.cli.serve"):
        reconcile_at_start(office, NOW, 300)
    assert "0 pending issuance(s) handled" in caplog.text

    from card_service.office.errors import RegisterUnavailable

    def down(*args: object, **kwargs: object) -> None:
        raise RegisterUnavailable("register database failed (OperationalError)")

    monkeypatch.setattr(office, "reconcile", down)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="api.cli.serve"):
        reconcile_at_start(office, NOW, 300)  # logged, not raised
    assert "register_unavailable" in caplog.text


def test_lifespan_hooks_run_once(office: EphemeralOffice) -> None:
    calls: list[str] = []
    app = create_app(
        office,
        authenticate=fake_authenticate,
        on_startup=lambda o: calls.append("start"),
        on_shutdown=lambda o: calls.append("stop"),
    )
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert calls == ["start"]
    assert calls == ["start", "stop"]
