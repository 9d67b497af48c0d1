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
from api.http.reader_events import Numbered, ReaderEventHub, Ready, Reset
from card_service.clients import Role
from card_service.office import EphemeralOffice, ReaderChange
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
    #: (event, id) of every event that carried an id, in order.
    ids: list[tuple[str, str]] = field(default_factory=list)
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


async def open_stream(
    app: FastAPI,
    role: Role = Role.CLERK,
    query: str = "",
    *,
    last_event_id: str | None = None,
) -> Stream:
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
                    if "id" in lines:
                        stream.ids.append((lines["event"], lines["id"]))
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
        "headers": [(b"authorization", f"Bearer {KEYS[role]}".encode()), (b"host", b"test")]
        + ([] if last_event_id is None else [(b"last-event-id", last_event_id.encode())]),
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    stream.task = asyncio.ensure_future(app(scope, receive, send))
    if last_event_id is None:
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


def test_a_reconnecting_stream_gets_what_it_missed(office: EphemeralOffice) -> None:
    """Every event has an id; a stream opened with ``Last-Event-ID`` first replays the
    events after it (its reader filter applied), then says ``ready``; an id it cannot
    resume from is a ``reset``."""
    app = _app(office)
    driver = office.station.driver

    async def scenario() -> None:
        keeper = await open_stream(app)  # keeps the poller (and its history) alive
        first = await open_stream(app, query="reader=Permit%20Sim%20Reader%201")
        reader = await asyncio.to_thread(insert_blank, office, 1)
        assert (await first.next())[0] == "card_inserted"
        (_, ready_id), (_, seen) = first.ids
        epoch = ready_id.split(".")[0]
        assert ready_id == f"{epoch}.0" and seen == f"{epoch}.1"
        await first.close()
        # missed while away: slot 0 in and out (filtered), slot 1 out
        await asyncio.to_thread(insert_blank, office, 0)
        await asyncio.to_thread(driver.remove, 0)  # type: ignore[attr-defined]
        await asyncio.to_thread(driver.remove, 1)  # type: ignore[attr-defined]
        for _ in range(4):
            await keeper.next()
        again = await open_stream(app, query="reader=Permit%20Sim%20Reader%201", last_event_id=seen)
        assert await again.next() == (
            "card_removed",
            {"reader": reader, "kind": "card_removed", "atr": None},
        )
        assert await again.next(skip_ready=False) == ("ready", {})
        assert again.ids == [("card_removed", f"{epoch}.4"), ("ready", f"{epoch}.4")]
        everything = await open_stream(app, last_event_id=f"{epoch}.0")
        kinds = [(await everything.next())[0] for _ in range(4)]
        assert kinds == ["card_inserted", "card_inserted", "card_removed", "card_removed"]
        assert [i for _, i in everything.ids] == [f"{epoch}.{n}" for n in (1, 2, 3, 4)]
        for bad in ("nonsense", f"{epoch}.99", "0000000000000000.1"):
            lost = await open_stream(app, last_event_id=bad)
            assert await lost.next() == (
                "reset",
                {
                    "reason": "unknown",
                    "detail": "events may have been missed: re-read the readers (GET /v1/readers)",
                },
            )
            assert await lost.next(skip_ready=False) == ("ready", {})
            await lost.close()
        for stream in (keeper, again, everything):
            await stream.close()

    anyio.run(scenario)


def test_a_too_long_last_event_id_is_422(client: Any) -> None:
    headers = {"Authorization": f"Bearer {KEYS[Role.CLERK]}", "Last-Event-ID": "x" * 65}
    response = client.get(PATH, headers=headers)
    assert response.status_code == 422


class _Script:
    """A poll function fed by the test: each ``poll`` returns what was pushed."""

    def __init__(self) -> None:
        import queue

        self.pending: queue.Queue[ReaderChange] = queue.Queue()

    def __call__(self, timeout: float) -> list[ReaderChange]:
        import queue

        try:
            return [self.pending.get(timeout=timeout or 0.001)]
        except queue.Empty:
            return []


def test_the_hub_history_is_bounded_and_a_new_run_resets() -> None:
    script = _Script()
    hub = ReaderEventHub(script, interval=0.05, history=2)

    async def drain(queue: asyncio.Queue[Any], count: int) -> list[Any]:
        return [await asyncio.wait_for(queue.get(), TIMEOUT) for _ in range(count)]

    async def scenario() -> tuple[str, str]:
        keeper = hub.subscribe()
        ready = (await drain(keeper.queue, 1))[0]
        assert isinstance(ready, Ready)
        epoch = ready.event_id.split(".")[0]
        for n in range(3):
            script.pending.put(ReaderChange(f"R{n}", "card_inserted", "3B00"))
        got = await drain(keeper.queue, 3)
        assert [g.event_id for g in got] == [f"{epoch}.{n}" for n in (1, 2, 3)]
        # the history holds the last two: resuming after 1 works, after 0 is too old
        ok = hub.subscribe(f"{epoch}.1")
        replayed = await drain(ok.queue, 3)
        assert [type(x) for x in replayed] == [Numbered, Numbered, Ready]
        assert [x.change.reader for x in replayed[:2]] == ["R1", "R2"]
        old = hub.subscribe(f"{epoch}.0")
        assert await drain(old.queue, 2) == [Reset("expired"), Ready(f"{epoch}.3")]
        for sub in (keeper, ok, old):
            hub.unsubscribe(sub)
        return epoch, f"{epoch}.3"

    epoch, last = anyio.run(scenario)
    for _ in range(100):  # the poller stops after the last subscriber left
        if not hub.running:
            break
        anyio.run(anyio.sleep, 0.05)
    assert not hub.running

    async def later() -> None:  # a new run: the old ids cannot be resumed
        sub = hub.subscribe(last)
        items = await drain(sub.queue, 2)
        assert items[0] == Reset("unknown")
        assert isinstance(items[1], Ready) and not items[1].event_id.startswith(epoch)
        hub.unsubscribe(sub)

    anyio.run(later)
