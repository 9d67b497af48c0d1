"""Attacks on the issuance streams' per-client slots (api.http.sse, 429 ``too_many_streams``):
a slot is what bounds the worker threads one officer's issuances hold, so it must be
released once the stream has ended, however it ends (else the officer is locked out), and
not before the issuance it started has run to its end (else the bound is gone).

Cases the other stream tests leave out: a server speaking ASGI spec 2.4 (no disconnect
listener: the client's departure is an ``OSError`` from ``send``), a client gone before
the response starts, and an issuance failing with an exception that is no PermitError."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from starlette.types import Message

from api.http import create_app, sse
from card_service.clients import Role
from card_service.office import EphemeralOffice
from tests.dbfixtures import NOW
from tests.http.conftest import (
    CLIENTS,
    KEYS,
    application_body,
    fake_authenticate,
    insert_blank,
)

OFFICER = (b"authorization", f"Bearer {KEYS[Role.OFFICER]}".encode())
JSON = (b"content-type", b"application/json")
OFFICER_ID = CLIENTS[KEYS[Role.OFFICER]].client_id


def _scope(reader: str, body: bytes, spec: str) -> dict[str, Any]:
    path = f"/v1/readers/{quote(reader)}/issuance"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec},
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


def _progress(index: int) -> None:
    """One progress step, emitted from the issuance's worker thread to its stream."""

    class Step:
        def to_json(self) -> dict[str, Any]:
            return {"step": "write", "status": "started", "index": index, "total": 3}

    emit = sse._sink.get()
    assert emit is not None
    emit(Step())


def _receive_once(body: bytes, gone: anyio.Event) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    return receive


def test_a_client_gone_on_a_spec_2_4_server_keeps_its_slot_until_the_issuance_ends(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ASGI spec 2.4: Starlette does not listen for the disconnect; the stream learns of it
    from ``send`` raising ``OSError`` (the next progress event).  The issuance runs on in
    its worker thread, so its slot stays taken until it has ended, then is freed; the
    client's departure is no server error."""
    reader = insert_blank(office)
    app = create_app(office, authenticate=fake_authenticate, now=lambda: NOW)
    first_sent, release, finished = threading.Event(), threading.Event(), threading.Event()

    def issue(*args: object, **kwargs: object) -> object:
        _progress(1)
        first_sent.wait(30)
        _progress(2)  # the client is gone: its send raises
        release.wait(30)
        finished.set()
        raise RuntimeError("the workflow failed")

    monkeypatch.setattr(office, "issue", issue)
    body = application_body(3)
    held_after_gone: list[int] = []
    thread_running: list[bool] = []

    async def main() -> None:
        chunks = 0
        raised = anyio.Event()

        async def send(message: Message) -> None:
            nonlocal chunks
            if message["type"] == "http.response.body" and message.get("body"):
                chunks += 1
                if chunks == 1:
                    first_sent.set()
                    return
                raised.set()
                raise OSError("the client has gone")

        async def serve() -> None:
            await app(_scope(reader, body, "2.4"), _receive_once(body, anyio.Event()), send)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(serve)
                await raised.wait()
                await anyio.sleep(0.2)  # the stream has given up on the client
                held_after_gone.append(app.state.issuance_slots.held(OFFICER_ID))
                thread_running.append(not finished.is_set())
                release.set()

    anyio.run(main)
    assert thread_running == [True]
    assert held_after_gone == [1], "the slot was freed while its issuance still ran"
    assert finished.is_set()
    assert app.state.issuance_slots.held(OFFICER_ID) == 0  # freed once it has ended
    assert not [r for r in caplog.records if r.name == "api.http.middleware" and r.levelno >= 30]


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
def test_a_client_gone_before_the_response_started_frees_its_slot(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    """``send`` of the response start raising (the connection already closed): no
    issuance runs and the slot is free again."""
    reader = insert_blank(office)
    app = create_app(office, authenticate=fake_authenticate, now=lambda: NOW)
    started: list[bool] = []

    def issue(*args: object, **kwargs: object) -> object:
        started.append(True)
        raise RuntimeError("must not run")

    monkeypatch.setattr(office, "issue", issue)
    body = application_body(3)

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            raise OSError("the client has gone")

    async def main() -> None:
        gone = anyio.Event()
        gone.set()
        with anyio.fail_after(30):
            await app(_scope(reader, body, spec), _receive_once(body, gone), send)

    for _ in range(app.state.services.limits.streams_per_client + 1):
        anyio.run(main)
        assert app.state.issuance_slots.held(OFFICER_ID) == 0
    assert started == []


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
def test_an_issuance_failing_with_a_bug_frees_its_slot(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    """An exception that is no PermitError (a bug): an ``error`` event (500
    ``internal_error``), and the slot freed; again and again, so no officer is locked out."""
    reader = insert_blank(office)
    app = create_app(office, authenticate=fake_authenticate, now=lambda: NOW)

    def issue(*args: object, **kwargs: object) -> object:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(office, "issue", issue)
    body = application_body(3)
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    async def main() -> None:
        gone = anyio.Event()
        with anyio.fail_after(30):
            await app(_scope(reader, body, spec), _receive_once(body, gone), send)

    for _ in range(app.state.services.limits.streams_per_client + 1):
        chunks.clear()
        anyio.run(main)
        assert b"event: error" in b"".join(chunks) and b"internal_error" in b"".join(chunks)
        assert app.state.issuance_slots.held(OFFICER_ID) == 0


def test_a_reader_event_stream_left_on_a_spec_2_4_server_unsubscribes_at_once(
    office: EphemeralOffice,
) -> None:
    """The counter screen's event stream, its client gone (``send`` raising on spec 2.4):
    the stream's subscription to the hub ends with the response, not whenever the
    abandoned generator is collected, and the slot is free."""
    app = create_app(office, authenticate=fake_authenticate, now=lambda: NOW)
    clerk = (b"authorization", f"Bearer {KEYS[Role.CLERK]}".encode())
    scope = {
        **_scope("x", b"", "2.4"),
        "method": "GET",
        "path": "/v1/readers/events",
        "raw_path": b"/v1/readers/events",
        "headers": [clerk],
    }
    left: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise OSError("the client has gone")

    async def main() -> None:
        with anyio.fail_after(30):
            await app(scope, _receive_once(b"", anyio.Event()), send)
            left.append(len(app.state.reader_events._subscribers))

    anyio.run(main)
    assert left == [0], "the hub still feeds a stream nobody reads"
    assert app.state.stream_slots.held(CLIENTS[KEYS[Role.CLERK]].client_id) == 0


def test_a_reader_event_stream_whose_response_cannot_be_built_gives_its_slot_back(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot is taken before the response that would free it exists: if building that
    response fails, the route itself gives the slot back (else each failure would lock a
    counter out of its event streams for good)."""
    from fastapi.testclient import TestClient

    from api.http.routes import reader_events

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("cannot build the response")

    monkeypatch.setattr(reader_events, "SlotResponse", broken)
    app = create_app(office, authenticate=fake_authenticate, now=lambda: NOW)
    clerk = {"Authorization": f"Bearer {KEYS[Role.CLERK]}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(3):
            assert client.get("/v1/readers/events", headers=clerk).status_code == 500
    assert app.state.stream_slots.held(CLIENTS[KEYS[Role.CLERK]].client_id) == 0
