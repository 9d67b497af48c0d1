"""Live card and reader events of the station, for counters: server-sent events from the
office's card seam (``office.reader_events``, fanned out by :mod:`..reader_events`).

Events carry ids; a client that reconnects with ``Last-Event-ID`` first gets the events it
missed, or ``reset`` when they cannot be replayed (then it re-reads ``GET /v1/readers``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from ..admin_models import ReaderEventModel
from ..deps import Counter, app_part, services_of
from ..openapi import authenticated
from ..reader_events import Failed, Numbered, ReaderEventHub, Ready, Reset
from ..sse import SSE_EVENT_SCHEMA, SSE_MEDIA_TYPE, SlotResponse, StreamSlots, sse
from .common import ReadersHere

__all__ = ["KEEPALIVE", "hub_of", "router", "slots_of"]

router = APIRouter(tags=["readers"])

#: Seconds between keep-alive comments on a quiet stream (proxies close idle connections).
KEEPALIVE = 15.0

_EXAMPLE = (
    "retry: 3000\n\n"
    "id: 5f0c2a9e41d7b3c8.0\nevent: ready\ndata: {}\n\n"
    'id: 5f0c2a9e41d7b3c8.1\nevent: card_inserted\ndata: {"reader":"Permit Sim Reader 0",'
    '"kind":"card_inserted","atr":"3B8880010000000000000000"}\n\n'
    'id: 5f0c2a9e41d7b3c8.2\nevent: card_removed\ndata: {"reader":"Permit Sim Reader 0",'
    '"kind":"card_removed","atr":null}\n\n'
)

#: What a ``reset`` event says.
RESET_DETAIL = "events may have been missed: re-read the readers (GET /v1/readers)"

_EVENTS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `ready` once listening, then `card_inserted`, "
        "`card_removed`, `reader_added`, `reader_removed` (a ReaderEventModel each); "
        "`error` (`{code}`) if the reader transport fails, `end` when the stream's lifetime "
        "is over (reconnect). Comments keep a quiet stream alive. `ready` and every reader "
        "event carry an `id`; reconnecting with `Last-Event-ID` replays the events missed "
        "since (from a bounded history), or sends `reset` (`{reason, detail}`: re-read "
        "`GET /v1/readers`) when it cannot.",
        "content": {
            SSE_MEDIA_TYPE: {
                "schema": SSE_EVENT_SCHEMA,
                "example": _EXAMPLE,
                "x-events": {
                    kind: {"$ref": "#/components/schemas/ReaderEventModel"}
                    for kind in ("card_inserted", "card_removed", "reader_added", "reader_removed")
                },
            }
        },
    }
}


def hub_of(request: Request) -> ReaderEventHub:
    """The app's one hub (made on first use: one poller per office)."""
    return app_part(
        request, "reader_events", ReaderEventHub, lambda s: ReaderEventHub(s.office.reader_events)
    )


def slots_of(request: Request) -> StreamSlots:
    """The app's count of open event streams per client (``Limits.streams_per_client``)."""
    return app_part(
        request, "stream_slots", StreamSlots, lambda s: StreamSlots(s.limits.streams_per_client)
    )


async def _events(
    hub: ReaderEventHub, reader: str | None, lifetime: float, last_event_id: str | None = None
) -> AsyncIterator[bytes]:
    sub = hub.subscribe(last_event_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    try:
        yield b"retry: 3000\n\n"
        while (left := deadline - loop.time()) > 0:
            try:
                item = await asyncio.wait_for(sub.queue.get(), timeout=min(KEEPALIVE, left))
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if isinstance(item, Ready):
                yield sse("ready", {}, item.event_id)
            elif isinstance(item, Reset):
                yield sse("reset", {"reason": item.reason, "detail": RESET_DETAIL})
            elif isinstance(item, Failed):
                yield sse("error", {"code": item.code})
                return
            elif isinstance(item, Numbered):
                change = item.change
                if reader is None or change.reader == reader:
                    data = ReaderEventModel.of(change).model_dump(mode="json")
                    yield sse(change.kind, data, item.event_id)
        yield sse("end", {})
    finally:  # the client went away (the response is cancelled) or the stream ended
        hub.unsubscribe(sub)


@router.get(
    "/v1/readers/events",
    response_class=StreamingResponse,
    summary="Live card inserted/removed and reader added/removed events (server-sent)",
    description="One stream per counter screen; `reader` keeps one reader's events. The "
    "stream ends when the client disconnects (or after the service's stream lifetime, with "
    "`end`: reconnect). A client holds at most a few streams at once (429 "
    "`too_many_streams` beyond).",
    responses={**_EVENTS, **authenticated(503)},
)
async def reader_events(
    client: Counter,
    _readers: ReadersHere,
    request: Request,
    reader: Annotated[
        str | None, Query(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="The id of the last event received: resume after it",
        ),
    ] = None,
) -> StreamingResponse:
    services = services_of(request)
    slots = slots_of(request)
    slots.acquire(client.client_id)
    try:
        return SlotResponse(
            _events(hub_of(request), reader, services.limits.event_stream, last_event_id),
            slots=slots,
            client_id=client.client_id,
            media_type=SSE_MEDIA_TYPE,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    except BaseException:  # no response owns the slot yet: give it back here
        slots.release(client.client_id)
        raise
