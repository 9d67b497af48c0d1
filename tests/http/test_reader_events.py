"""``GET /v1/readers/events``: card inserted/removed events of the simulated readers as
server-sent events, fanned out to every stream; a stream ends when its client disconnects.

Driven at the ASGI level (a whole-body test client cannot read an endless stream): the test
owns ``receive``, so it decides when the client goes away."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import FastAPI

from api.http import create_app
from api.http.reader_events import ReaderEventHub
from card_service.clients import Role
from card_service.office import EphemeralOffice
from tests.dbfixtures import NOW
from tests.http.conftest import KEYS, fake_authenticate, insert_blank

PATH = "/v1/readers/events"
TIMEOUT = 5.0


@dataclass
class Stream:
    """One open request: its status, the events parsed so far, and its disconnect."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    buffer: str = ""
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def next(self, *, skip_ready: bool = True) -> tuple[str, Any]:
        while True:
            event = await asyncio.wait_for(self.events.get(), TIMEOUT)
            if not (skip_ready and event[0] == "ready"):
                return event

    async def close(self) -> None:
        self.gone.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, TIMEOUT)  # the response ends with its client


async def open_stream(app: FastAPI, role: Role = Role.CLERK, query: str = "") -> Stream:
    stream = Stream()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await stream.gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            stream.status = message["status"]
            stream.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            stream.buffer += message.get("body", b"").decode()
            while "\n\n" in stream.buffer:
                block, stream.buffer = stream.buffer.split("\n\n", 1)
                lines = dict(x.split(": ", 1) for x in block.splitlines() if ": " in x)
                if "event" in lines:
                    await stream.events.put((lines["event"], json.loads(lines["data"])))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"authorization", f"Bearer {KEYS[role]}".encode()), (b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    stream.task = asyncio.ensure_future(app(scope, receive, send))
    assert await stream.next(skip_ready=False) == ("ready", {})
    return stream


def _app(office: EphemeralOffice) -> FastAPI:
    return create_app(office, authenticate=fake_authenticate, now=lambda: NOW)


def test_inserted_and_removed_cards_reach_every_stream(office: EphemeralOffice) -> None:
    app = _app(office)
    driver = office.station.driver
    stale = insert_blank(office, 1)  # before anybody listened: not reported

    async def scenario() -> None:
        counter = await open_stream(app)
        officer = await open_stream(app, Role.OFFICER)
        assert counter.status == 200
        assert counter.headers["content-type"].startswith("text/event-stream")
        assert counter.headers["cache-control"] == "no-store"
        reader = await asyncio.to_thread(insert_blank, office, 0)
        for stream in (counter, officer):
            kind, data = await stream.next()
            assert kind == "card_inserted"
            assert data["reader"] == reader and data["kind"] == "card_inserted"
            assert data["atr"] and all(c in "0123456789ABCDEF" for c in data["atr"])
        await asyncio.to_thread(driver.remove, 0)  # type: ignore[attr-defined]
        for stream in (counter, officer):
            assert await stream.next() == (
                "card_removed",
                {"reader": reader, "kind": "card_removed", "atr": None},
            )
        await counter.close()
        await officer.close()

    anyio.run(scenario)
    assert stale != "Permit Sim Reader 0"
    hub = app.state.reader_events
    assert isinstance(hub, ReaderEventHub)
    for _ in range(50):  # the poller stops after the last stream left (one poll interval)
        if not hub.running:
            break
        anyio.run(anyio.sleep, 0.1)
    assert not hub.running


def test_one_readers_events(office: EphemeralOffice) -> None:
    app = _app(office)
    driver = office.station.driver

    async def scenario() -> None:
        stream = await open_stream(app, query="reader=Permit%20Sim%20Reader%201")
        await asyncio.to_thread(insert_blank, office, 0)
        await asyncio.to_thread(insert_blank, office, 1)
        kind, data = await stream.next()
        assert (kind, data["reader"]) == ("card_inserted", "Permit Sim Reader 1")
        await asyncio.to_thread(driver.remove, 0)  # type: ignore[attr-defined]
        await asyncio.to_thread(driver.remove, 1)  # type: ignore[attr-defined]
        kind, data = await stream.next()
        assert (kind, data["reader"]) == ("card_removed", "Permit Sim Reader 1")
        await stream.close()

    anyio.run(scenario)


def test_a_stream_ends_after_its_lifetime(client: Any) -> None:
    """The conftest app's streams live 0.3 s: a whole-body client reads one to its end."""
    response = client.get(PATH, headers={"Authorization": f"Bearer {KEYS[Role.CLERK]}"})
    assert response.status_code == 200
    assert response.text.startswith("retry: 3000\n\n")
    assert response.text.rstrip().endswith("event: end\ndata: {}")


def test_openapi_documents_the_events(client: Any) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"][PATH]["get"]
    assert operation["x-permit-roles"] == ["clerk", "officer"]
    events = operation["responses"]["200"]["content"]["text/event-stream"]["x-events"]
    assert set(events) == {"card_inserted", "card_removed", "reader_added", "reader_removed"}
    for ref in events.values():
        assert (
            ref["$ref"].removeprefix("#/components/schemas/") in document["components"]["schemas"]
        )
