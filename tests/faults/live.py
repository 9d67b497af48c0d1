"""The service on a real socket for the fault tests: uvicorn in a thread of the test process
(so the test can pull the database, Redis or a card from under it), and an authenticator
that gives every request a client of its own (its audit actor names the request)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from card_service.clients import ApiClient, Role, Unauthenticated

__all__ = ["SCOPE", "actor", "authenticate", "headers", "live_server", "problem_code"]

#: The disclosure scope of every relying party here.
SCOPE = frozenset({"full_name"})
_PREFIX = "fault-key"


def headers(role: Role, name: str) -> dict[str, str]:
    """The API key of the client ``name`` with ``role`` (any name: one client per request)."""
    return {"Authorization": f"Bearer {_PREFIX}.{role.value}.{name}"}


def actor(role: Role, name: str) -> str:
    """The audit actor of that client (``api.http.deps.actor_of``)."""
    return f"api:{role.value}:{name}"


def authenticate(key: str, now: dt.datetime) -> ApiClient:
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != _PREFIX:
        raise Unauthenticated("unknown, expired or revoked API key")
    role = Role(parts[1])
    scope = SCOPE if role is Role.RELYING_PARTY else frozenset()
    return ApiClient(client_id=parts[2], name=parts[2], role=role, scope=scope)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port; its base URL."""
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fault-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def problem_code(response: httpx.Response) -> str:
    """The ``code`` of a problem+json answer (asserting it is one, well-formed)."""
    assert response.headers["content-type"].startswith("application/problem+json"), (
        response.status_code,
        response.text[:300],
    )
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert body["type"] == f"urn:permit:problem:{body['code']}"
    assert body["instance"] == f"urn:request:{response.headers['x-request-id']}"
    return str(body["code"])
