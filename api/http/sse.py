"""Live progress of an issuance as server-sent events.

The office reports progress to one sink (``office.on_progress``, read when a use case builds
its workflow); :class:`ProgressRelay` is that sink for the whole app and hands each event to
the stream of the request whose worker thread emitted it (a context variable, set in the
thread), so two issuances on two readers never see each other's steps.

A stream is ``event: progress`` per step, then one ``event: result`` (the :class:`Issued`
document) or ``event: error`` (a problem document).  The blocking office call runs in a
worker thread; a client that disconnects does not cut the workflow off between two steps:
the thread finishes (or is reconciled later) and its events are dropped.
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream
from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from permit_errors import PermitError, withheld_traceback

from .deps import RateLimited, Services, app_part
from .models import Issued, Progress
from .problems import problem_for

__all__ = [
    "SSE_EVENT_SCHEMA",
    "SSE_MEDIA_TYPE",
    "ProgressRelay",
    "SlotResponse",
    "StreamSlots",
    "TooManyStreams",
    "issuance_slots",
    "issuance_stream",
    "sse",
]

log = logging.getLogger(__name__)

SSE_MEDIA_TYPE = "text/event-stream"
#: The schema of one server-sent event as a client parses it (the WHATWG fields); each
#: event's ``data`` is the JSON document ``x-events`` names for its ``event``.
SSE_EVENT_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}

_sink: contextvars.ContextVar[Callable[[Any], None] | None] = contextvars.ContextVar(
    "permit_http_progress", default=None
)


class ProgressRelay:
    """``office.on_progress`` for an app: forward to the current request's stream (and to
    the sink the office had before, if any).  Never raises into the workflow."""

    def __init__(self, previous: Callable[[Any], None] | None = None) -> None:
        self.previous = previous

    def __call__(self, event: Any) -> None:
        for sink in (self.previous, _sink.get()):
            if sink is None:
                continue
            try:
                sink(event)
            except Exception as exc:  # a gone client must not break an issuance
                log.debug("progress sink failed: %s", type(exc).__name__)


class TooManyStreams(RateLimited):
    """The client already holds as many open event streams as it may (429: close one, or
    retry when one has ended)."""

    code = "too_many_streams"


class StreamSlots:
    """How many long-lived streams each client holds open, bounded per client (a client
    opening stream after stream would otherwise hold connections and tasks without end)."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def acquire(self, client_id: str) -> None:
        """Take a slot for ``client_id`` or raise :class:`TooManyStreams`."""
        with self._lock:
            held = self._open.get(client_id, 0)
            if held >= self.per_client:
                raise TooManyStreams(
                    f"at most {self.per_client} open event streams per client", retry_after=3
                )
            self._open[client_id] = held + 1

    def release(self, client_id: str) -> None:
        with self._lock:
            held = self._open.get(client_id, 0) - 1
            if held > 0:
                self._open[client_id] = held
            else:
                self._open.pop(client_id, None)

    def held(self, client_id: str) -> int:
        with self._lock:
            return self._open.get(client_id, 0)


class SlotResponse(StreamingResponse):
    """A stream holding one of its client's :class:`StreamSlots`: released when the
    response ends, however it ends (finished, the client gone, cancelled) - even when the
    body was never iterated."""

    def __init__(self, *args: Any, slots: StreamSlots, client_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots, self._client_id = slots, client_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                # a server on ASGI spec 2.4 reports a client gone as ``send`` raising, and
                # Starlette leaves the body suspended inside its task group: close it here,
                # in the task it runs in and in no scope of ours (its task group must exit
                # first), which waits for the issuance to end
                await _close(self.body_iterator)
            finally:
                self._slots.release(self._client_id)


def issuance_slots(request: Request) -> StreamSlots:
    """The app's count of open issuance streams per client (``Limits.streams_per_client``,
    apart from the reader-event streams: a counter screen's event streams do not stop its
    officer issuing).  Each stream holds a worker thread for a whole card workflow."""
    return app_part(
        request, "issuance_slots", StreamSlots, lambda s: StreamSlots(s.limits.streams_per_client)
    )


def sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One server-sent event (``event_id``: its ``id`` field, without line breaks)."""
    head = "" if event_id is None else f"id: {event_id}\n"
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def issuance_stream(
    services: Services,
    work: Callable[[], Any],
    *,
    request_id: str,
    slots: StreamSlots,
    client_id: str,
    replaced: str | None = None,
) -> StreamingResponse:
    """Run ``work`` (an office issuance) in a thread and stream its progress and result.

    The stream holds one of ``client_id``'s ``slots`` (429 ``too_many_streams`` when it has
    none left, before any work starts); the slot is freed when the response ends.  A client
    that disconnects frees it once the issuance it started has run to its end (the workflow
    is not cut off, and its worker thread is what the slot bounds).
    """
    slots.acquire(client_id)
    send, receive = anyio.create_memory_object_stream[bytes](max_buffer_size=math.inf)

    def emit(event: Any) -> None:
        data = Progress.model_validate(event.to_json()).model_dump(mode="json")
        anyio.from_thread.run_sync(_put, send, sse("progress", data))

    def run() -> bytes:
        _sink.set(emit)
        try:
            result = work()
        except PermitError as exc:
            _, body = problem_for(exc, base=services.problem_base, request_id=request_id)
            log.info("request %s: issuance failed: %s (%s)", request_id, exc.code, exc.kind)
            return sse("error", body)
        except Exception as exc:  # a bug: logged with the request id, a generic problem sent
            log.error(
                "request %s: issuance failed unexpectedly: %s\n%s",
                request_id,
                type(exc).__name__,
                withheld_traceback(exc),  # never the exception's text
            )
            return sse("error", _internal(services, request_id))
        issued = Issued.of(result, replaced=replaced)
        log.info("request %s: issued permit %s", request_id, issued.permit_number)
        return sse("result", issued.model_dump(mode="json"))

    async def produce() -> None:
        async with send:
            # shielded: once the stream has begun, a client that leaves does not stop the
            # issuance (it runs to its end; the stream's cancellation waits for it)
            with anyio.CancelScope(shield=True):
                final = await anyio.to_thread.run_sync(run)
            _put(send, final)

    async def body() -> AsyncIterator[bytes]:
        async with anyio.create_task_group() as group, receive:
            group.start_soon(produce)
            async for chunk in receive:
                yield chunk

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    try:
        return SlotResponse(
            body(),
            slots=slots,
            client_id=client_id,
            media_type=SSE_MEDIA_TYPE,
            headers=headers,
        )
    except BaseException:
        slots.release(client_id)
        raise


def _internal(services: Services, request_id: str) -> dict[str, Any]:
    from .problems import problem_body

    return problem_body(
        base=services.problem_base,
        status=500,
        code="internal_error",
        detail="internal error",
        request_id=request_id,
    )


async def _close(body: object) -> None:
    """Close an async generator left suspended (a no-op once it has ended); its task group
    reports the ``GeneratorExit`` it exits with in a group, which is no failure."""
    aclose = getattr(body, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except BaseExceptionGroup as group:
        rest = group.split(GeneratorExit)[1]
        if rest is not None:
            raise rest from None


def _put(send: MemoryObjectSendStream[bytes], chunk: bytes) -> None:
    try:
        send.send_nowait(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # the client left: the workflow goes on
