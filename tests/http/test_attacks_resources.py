"""Attacks on the service's resources: bodies that are huge, deep, lying about their length,
arriving forever (slowloris), adversarial to the nesting check; event streams opened by
the hundred.  Each answers a clear 4xx quickly and leaves the service serving."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message

from api.http import create_app
from api.http.deps import Limits
from api.http.middleware import json_depth
from card_service.clients import Role
from card_service.office import EphemeralOffice
from card_service.office.errors import RegisterUnavailable
from tests.dbfixtures import NOW
from tests.http.attack_tools import raw_request
from tests.http.conftest import (
    CLIENTS,
    KEYS,
    application_body,
    assert_problem,
    auth,
    fake_authenticate,
    insert_blank,
)

OFFICER = (b"authorization", f"Bearer {KEYS[Role.OFFICER]}".encode())
CLERK = (b"authorization", f"Bearer {KEYS[Role.CLERK]}".encode())
JSON = (b"content-type", b"application/json")


def _problem(body: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body)
    assert document["type"] == f"urn:permit:problem:{document['code']}"
    return document


# -- the nesting check itself --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b'{"a": [1, {"b": "]]]}}}"}]}', 3),
        (b'["\\"[[[[", ["\\\\"], [[]]]', 3),
        (b'"\\"[[[["', 0),
        (b'{"k": "\\\\\\"{{{"}', 1),
        (b"[[[[", 4),  # unterminated: still counted
        (b'["unterminated [[[[', 1),  # an open string hides the rest
        (b"", 0),
    ],
)
def test_json_depth_skips_strings_and_escapes(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def test_json_depth_is_linear_on_adversarial_strings() -> None:
    """A quote followed by escaped quotes never closes: a backtracking string pattern
    rescans to the end from every quote (quadratic: a 64 KiB body held the event loop
    for seconds).  A MiB of it must take a blink; 20 s is a hang, not a benchmark."""
    bodies = [
        b'"' + b'\\"' * (512 * 1024),
        b'["' + b"\\\\" * (512 * 1024),
        b"[" * 1024 + b'"\\' * (512 * 1024),
    ]
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.extend(json_depth(b) for b in bodies))
    worker.daemon = True
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "json_depth is not linear"
    assert results == [0, 1, 1024]


# -- bodies through the app ----------------------------------------------------------------


@pytest.fixture
def slow_app(office: EphemeralOffice) -> FastAPI:
    return create_app(
        office,
        authenticate=fake_authenticate,
        now=lambda: NOW,
        limits=Limits(body_timeout=0.2, event_stream=0.3),
    )


def test_adversarial_json_body_is_answered(app: FastAPI) -> None:
    body = b'"' + b'\\"' * (30 * 1024)  # just under the 64 KiB JSON limit
    response = raw_request(
        app, "POST", "/v1/applications", headers=[OFFICER, JSON], chunks=[body[:1000], body[1000:]]
    )
    assert response.status == 422
    assert _problem(response.body)["status"] == 422


def test_a_body_that_stops_arriving_is_cut_off(slow_app: FastAPI) -> None:
    """Slowloris: a valid key, a JSON body begun and never finished.  The body has a
    deadline (``Limits.body_timeout``): 408 ``body_timeout``, not a connection held."""
    response = raw_request(
        slow_app,
        "POST",
        "/v1/applications",
        headers=[OFFICER, JSON],
        chunks=[b'{"format": "permit-application/1", '],
        stall=True,
    )
    assert response.status == 408
    problem = _problem(response.body)
    assert problem["code"] == "body_timeout"
    assert problem["instance"] == f"urn:request:{response.header(b'x-request-id')[0].decode()}"


def test_a_stalled_body_without_a_key_is_refused_unread(slow_app: FastAPI) -> None:
    response = raw_request(
        slow_app, "POST", "/v1/applications", headers=[JSON], chunks=[b"{"], stall=True
    )
    assert response.status == 401


@pytest.mark.parametrize("declared", [b"-1", b"+10", b"1e3", b"0x10", b"10, 10", b"\xd9\xa1"])
def test_malformed_content_length_is_refused(app: FastAPI, declared: bytes) -> None:
    response = raw_request(
        app,
        "POST",
        "/v1/applications",
        headers=[OFFICER, JSON, (b"content-length", declared)],
        chunks=[b"{}"],
    )
    assert 400 <= response.status < 500 and response.status != 404
    _problem(response.body)


def test_a_content_length_that_lies_low_does_not_lift_the_limit(app: FastAPI) -> None:
    """Declared 10 bytes, sent 100 KiB in chunks (as a chunked body would arrive): the
    bytes are counted, not the declaration."""
    chunk = b"[" + b"1," * 5000
    response = raw_request(
        app,
        "POST",
        "/v1/applications",
        headers=[OFFICER, JSON, (b"content-length", b"10")],
        chunks=[chunk] * 10,
    )
    assert response.status == 413
    assert _problem(response.body)["code"] == "body_too_large"


def test_chunked_body_beyond_the_limit(app: FastAPI) -> None:
    response = raw_request(
        app,
        "POST",
        "/v1/verifications",
        headers=[(b"authorization", f"Bearer {KEYS[Role.RELYING_PARTY]}".encode()), JSON],
        chunks=[b" " * 8192] * 9,
    )
    assert response.status == 413


@pytest.mark.parametrize("content_type", [b"text/plain", b"application/x-www-form-urlencoded", b""])
@pytest.mark.parametrize("path", ["/v1/applications", "/v1/verifications"])
def test_deep_bodies_under_another_content_type(
    app: FastAPI, content_type: bytes, path: str
) -> None:
    """The JSON limits must not be dodged by calling the body something else: the routes
    parse every body as JSON, so every body is bounded and depth-checked as JSON."""
    role = Role.OFFICER if path == "/v1/applications" else Role.RELYING_PARTY
    headers = [(b"authorization", f"Bearer {KEYS[role]}".encode())]
    if content_type:
        headers.append((b"content-type", content_type))
    for body in (b"[" * 60_000, b"[" * 200 + b"]" * 200, b"{" * 500_000):
        response = raw_request(app, "POST", path, headers=headers, chunks=[body])
        assert response.status in (413, 422), (path, content_type, response.status, response.body)
        assert _problem(response.body)["status"] == response.status


def test_deep_json_is_refused_before_parsing(client: TestClient) -> None:
    deep = "[" * 33 + "]" * 33
    response = client.post(
        "/v1/verifications",
        content=deep,
        headers={**auth(Role.RELYING_PARTY), "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "json_too_deep")


# -- event streams -------------------------------------------------------------------------


def test_reader_event_streams_per_client_are_bounded(slow_app: FastAPI) -> None:
    """A clerk opening stream after stream (each a connection held for up to an hour):
    beyond ``Limits.streams_per_client`` open at once, 429 ``too_many_streams``; another
    client is not affected, and a slot frees when a stream ends."""
    limit = Limits().streams_per_client
    statuses: list[int] = []
    other: list[int] = []

    async def open_stream(header: tuple[bytes, bytes], into: list[int], gone: anyio.Event) -> None:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/v1/readers/events",
            "raw_path": b"/v1/readers/events",
            "query_string": b"",
            "root_path": "",
            "headers": [header],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                into.append(int(message["status"]))

        await slow_app(scope, receive, send)

    async def main() -> None:
        gone = anyio.Event()
        async with anyio.create_task_group() as group:
            for _ in range(limit + 2):
                group.start_soon(open_stream, CLERK, statuses, gone)
            while len(statuses) < limit + 2:
                await anyio.sleep(0.01)
            group.start_soon(open_stream, OFFICER, other, gone)
            while not other:
                await anyio.sleep(0.01)
            gone.set()

    # the streams are held open by clients that stay (until ``gone``)
    anyio.run(main)
    assert sorted(statuses) == [200] * limit + [429, 429]
    assert other == [200]
    # every slot is free again once the streams ended
    after: list[int] = []

    async def again() -> None:
        gone = anyio.Event()
        gone.set()
        await open_stream(CLERK, after, gone)

    anyio.run(again)
    assert after == [200]


def test_issuance_streams_per_client_are_bounded(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An officer opening issuance after issuance (each a worker thread held for a whole
    card workflow): beyond ``Limits.streams_per_client`` open at once, 429
    ``too_many_streams`` with ``Retry-After`` before any work starts; the slots are freed
    when the streams end, also for a client that disconnected mid-issuance."""
    reader = insert_blank(office)
    app = create_app(office, authenticate=fake_authenticate, now=lambda: NOW)
    limit = Limits().streams_per_client
    release = threading.Event()
    started: list[str] = []

    def blocked(*args: object, **kwargs: object) -> object:
        started.append(reader)
        release.wait(60)
        raise RegisterUnavailable("register database failed (OperationalError)")

    monkeypatch.setattr(office, "issue", blocked)
    body = application_body(3)
    statuses: list[int] = []
    retry_after: list[bytes] = []
    ended: list[bool] = []

    async def open_stream(gone: anyio.Event) -> None:
        path = f"/v1/readers/{quote(reader)}/issuance"
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path.replace("%20", " "),
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [OFFICER, JSON, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(message["status"]))
                retry_after.extend(v for k, v in message["headers"] if k == b"retry-after")

        await app(scope, receive, send)
        ended.append(True)

    async def main() -> None:
        stays, leaves = anyio.Event(), anyio.Event()
        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                group.start_soon(open_stream, leaves)
                for _ in range(limit):
                    group.start_soon(open_stream, stays)
                while len(statuses) < limit + 1:
                    await anyio.sleep(0.01)
                assert sorted(statuses) == [200] * limit + [429]
                assert retry_after == [b"3"]
                assert app.state.issuance_slots.held(CLIENTS[KEYS[Role.OFFICER]].client_id) == limit
                # one client leaves mid-issuance, then every issuance ends
                leaves.set()
                release.set()
                stays.set()

    anyio.run(main)
    assert len(ended) == limit + 1 and len(started) == limit
    assert app.state.issuance_slots.held(CLIENTS[KEYS[Role.OFFICER]].client_id) == 0
    # a slot is free again: the next issuance streams
    statuses.clear()
    release.set()

    async def again() -> None:
        gone = anyio.Event()
        gone.set()
        await open_stream(gone)

    anyio.run(again)
    assert statuses == [200]


def test_the_public_status_list_is_built_once_however_often_it_is_asked(
    client: TestClient, office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/v1/status-list`` needs no key (no client to rate-limit): a flood of requests
    must not make the office read the register and sign a list each time."""
    builds: list[object] = []
    original = office._build_status_list

    def counting(now: Any) -> Any:
        builds.append(now)
        return original(now)

    monkeypatch.setattr(office, "_build_status_list", counting)
    tokens = {client.get("/v1/status-list").content for _ in range(50)}
    assert len(builds) == 1 and len(tokens) == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"reason": ' + b"9" * 60_000 + b"}",  # beyond Python's int digit limit
        b'{"reason": 1e999999}',
        b'{"reason": NaN}',
        b'{"reason": -Infinity}',
        b'{"reason": "lost", "reason": "stolen"}',
        b'\xef\xbb\xbf{"reason": "lost"}',
        b'\xff\xfe{\x00"\x00',
        b'{"reason": "\xc3\x28"}',
        b'{"reason": "\\ud800"}',
        b'{"reason": "lost"} trailing',
        b"[" * 32 + b"]" * 32,
        b'{"' + b"k" * 60_000 + b'": 1}',
        b'{"reason": "lost", ' + b'"x": 1, ' * 7000 + b'"y": 2}',
    ],
)
def test_hostile_json_documents_are_4xx(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/v1/permits/3301062026999999X/revocation",
        content=body,
        headers={**auth(Role.OFFICER), "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
