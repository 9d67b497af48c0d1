"""The service's ASGI middlewares, outermost first:

* :class:`RequestContext` - the request id (a well-formed incoming ``X-Request-ID`` is kept,
  else one is generated) on the scope and on every response (with
  ``X-Content-Type-Options: nosniff``), and the last resort for an unexpected exception: a
  generic 500 problem, logged with the request id, the route and the stack, never the body
  or the exception's text;
* :class:`Metrics` - request counts and latencies by route *template* (``/v1/permits/{number}``,
  never the raw path, which would carry permit numbers and explode the label set);
* :class:`BodyLimits` - the body size (413 problem) and, for JSON bodies, the nesting depth
  (422 problem), checked before any route parses the body.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from card_service.clients import Unauthenticated
from permit_errors import ErrorKind, PermitError, withheld_traceback

from .metrics import HttpMetrics
from .problems import PROBLEM_MEDIA_TYPE, encode, problem_body, problem_for, problem_headers

__all__ = ["BodyLimits", "Metrics", "RequestContext", "json_depth"]

log = logging.getLogger(__name__)

#: Where :class:`RequireCredentials` leaves the authenticated client (``request.state``).
CLIENT_STATE = "authenticated_client"
#: The request state key of the rate-limit count the middleware made (:class:`CountedRequest`).
RATE_STATE = "counted_request"

#: ``scope -> rate class`` of the guarded route a request will reach, or ``None``.
RateClassifier = Callable[[Scope], "str | None"]
#: ``(api key, rate class or None) -> (client, its count or None)``, raising a
#: :class:`~permit_errors.PermitError` (401 for a key it does not admit).
Admit = Callable[[str, "str | None"], Awaitable[tuple[Any, "CountedRequest | None"]]]


@dataclass(frozen=True)
class CountedRequest:
    """A request counted against its client's limit of ``rate_class`` on the way in (the
    route's guard decides on ``decision``: after its role check, so a 403 stays a 403)."""

    rate_class: str
    decision: Any


REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{8,128}")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def request_id(scope: Scope) -> str:
    state = scope.get("state") or {}
    return str(state.get("request_id", "unknown"))


async def send_problem(
    send: Send, scope: Scope, base: str, status: int, code: str, detail: str
) -> None:
    body = encode(
        problem_body(
            base=base,
            status=status,
            code=code,
            detail=detail,
            request_id=request_id(scope),
            kind=str(ErrorKind.INVALID) if status < 500 else None,
        )
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContext:
    """Request id in, request id out, and the generic 500."""

    def __init__(self, app: ASGIApp, *, problem_base: str) -> None:
        self.app = app
        self.base = problem_base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER)
        rid = (
            incoming.decode()
            if incoming is not None and _REQUEST_ID.fullmatch(incoming)
            else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                headers.append((REQUEST_ID_HEADER, rid.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:  # the client left (ASGI spec 2.4: ``send`` raised)
            log.info("request %s: the client disconnected", rid)
        except Exception as exc:
            route = getattr(scope.get("route"), "path_format", "<unmatched>")
            method = str(scope.get("method", ""))
            log.error(
                "request %s %s %s failed unexpectedly: %s\n%s",
                rid,
                method if method in KNOWN_METHODS else "other",
                route,
                type(exc).__name__,
                withheld_traceback(exc),  # never the exception's text
            )
            if not started:
                await send_problem(
                    send_with_id, scope, self.base, 500, "internal_error", "internal error"
                )


#: The methods metrics name; any other (a client may send any token) counts as ``other``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """Count and time every request by method, route template and status: three bounded
    label sets (a method a client made up is ``other``, an unmatched path ``<unmatched>``)."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        begun = time.perf_counter()

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route = getattr(scope.get("route"), "path_format", None) or "<unmatched>"
            method = str(scope.get("method", ""))
            method = method if method in KNOWN_METHODS else "other"
            self.metrics.observe(method, route, status, time.perf_counter() - begun)


def _is_json(scope: Scope) -> bool:
    value = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
    return value == b"application/json" or value.endswith(b"+json")


#: What the nesting check looks at: brackets, quotes and backslashes (everything else is
#: skipped by the regex engine, in one linear pass).
_TOKEN = re.compile(rb'[\[\]{}"\\]')


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in ``body`` (strings skipped; an
    unterminated string hides the rest).

    One linear pass over the structural characters: no backtracking pattern (a quote
    followed by escaped quotes that never closes made a string pattern rescan the rest of
    the body from every quote, quadratic in the body's size)."""
    depth = deepest = 0
    in_string = False
    skip = -1  # the position of a character escaped by a backslash
    for match in _TOKEN.finditer(body):
        position = match.start()
        if position == skip:
            continue
        char = match.group()
        if in_string:
            if char == b"\\":
                skip = position + 1
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


class BodyLimits:
    """Read the whole body (bounded) before the app: 413 beyond ``max_body`` (``max_json``
    for JSON bodies), 422 ``json_too_deep`` beyond ``max_depth`` levels of nesting, 408
    ``body_timeout`` when the whole body has not arrived within ``body_timeout`` seconds
    (a client that stops sending mid-body does not hold a connection for ever)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_json: int,
        max_depth: int,
        problem_base: str,
        body_timeout: float = 15.0,
        exempt: Callable[[str], bool] = lambda _path: False,
    ) -> None:
        self.app = app
        self.max_body, self.max_json, self.max_depth = max_body, max_json, max_depth
        self.body_timeout = body_timeout
        self.base = problem_base
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        is_json = _is_json(scope)
        limit = self.max_json if is_json else self.max_body
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._too_large(scope, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        with anyio.move_on_after(self.body_timeout) as deadline:
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left before sending its body: nothing to answer
                chunk = bytes(message.get("body", b""))
                size += len(chunk)
                if size > limit:
                    await self._too_large(scope, send, limit)
                    return
                chunks.append(chunk)
                more = bool(message.get("more_body", False))
        if deadline.cancelled_caught:
            detail = f"the request body did not arrive within {self.body_timeout:g} s"
            await send_problem(send, scope, self.base, 408, "body_timeout", detail)
            return
        body = b"".join(chunks)
        if is_json and body and json_depth(body) > self.max_depth:
            detail = f"JSON nested deeper than {self.max_depth} levels"
            await send_problem(send, scope, self.base, 422, "json_too_deep", detail)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        detail = f"request body larger than {limit} bytes"
        await send_problem(send, scope, self.base, 413, "body_too_large", detail)


class RequireCredentials:
    """Authenticate first (deny by default), before anything else reads the request.

    A request (HTTP or WebSocket) for any path but the public ones (probes, API documents,
    public material) is answered 401 at once (a WebSocket is closed before its handshake)
    unless it carries exactly one ``Authorization: Bearer <key>`` with a key the office
    knows (unknown, expired, revoked, two Authorization headers: the same 401), so a caller
    without a valid key learns nothing from how its body or parameters are parsed, and no
    body is read for it.
    Every answer to a keyed request is ``Cache-Control: no-store`` unless the route set its
    own (it is one client's: a name, a portrait, a key).
    The authenticated client is left in the request state for the route's role guard
    (:class:`~api.http.deps.RoleGuard`), which decides what its role admits.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        problem_base: str,
        public: Callable[[str], bool],
        admit: Admit,
        rate_class: RateClassifier | None = None,
    ) -> None:
        self.app = app
        self.base = problem_base
        self.public = public
        self.admit = admit
        self.rate_class = rate_class

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or self.public(str(scope.get("path", ""))):
            await self.app(scope, receive, send)  # lifespan, or a public path
            return
        values = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
        # one Authorization header: with two, a proxy and this service may each read another
        header = values[0] if len(values) == 1 else b""
        scheme, _, token = header.partition(b" ")
        key = token.strip().decode("latin-1") if scheme.lower() == b"bearer" else ""
        rate_class = self.rate_class(scope) if self.rate_class and kind == "http" else None
        try:
            if not key:
                raise Unauthenticated("an API key is required (Authorization: Bearer <key>)")
            client, counted = await self.admit(key, rate_class)
        except PermitError as exc:
            if kind == "websocket":  # refused before the handshake: the server answers 403
                await send({"type": "websocket.close", "code": 1008})
                return
            await self._refuse(scope, send, exc)
            return
        if counted is not None:
            scope.setdefault("state", {})[RATE_STATE] = counted
        scope.setdefault("state", {})[CLIENT_STATE] = client
        if kind == "websocket":
            await self.app(scope, receive, send)
            return

        async def private(message: Message) -> None:
            # a keyed answer is this client's (a name, a portrait, a key): no cache keeps it
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, private)

    async def _refuse(self, scope: Scope, send: Send, exc: PermitError) -> None:
        status, body = problem_for(exc, base=self.base, request_id=request_id(scope))
        payload = encode(body)
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
        ]
        for name, value in problem_headers(status, body).items():
            headers.append((name.lower().encode(), value.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
