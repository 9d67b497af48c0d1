"""What a route depends on: the office, the clock, the authenticated client and its role.

Deny by default: a route admits a client only through :func:`require` (a
:class:`RoleGuard` naming its roles); ``create_app`` refuses to build an app with a route that
declares none (apart from the public probes), and tests/http walk every route with every role.

The API key travels as ``Authorization: Bearer <key>``; it is handed to the authenticator and
never logged or echoed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, ParamSpec, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from card_service.clients import ApiClient, Forbidden, Role, Unauthenticated
from card_service.office import Office, PresentationRequest, RelyingVerification
from permit_errors import ErrorKind, PermitError

from .batching import Batcher
from .middleware import CLIENT_STATE, RATE_STATE, CountedRequest

__all__ = [
    "ROUTE_CLASSES",
    "Authenticator",
    "Challenger",
    "ClientsUnavailable",
    "Clock",
    "Counter",
    "Limits",
    "OfficeDep",
    "Officer",
    "RateLimited",
    "RelyingParty",
    "RequestTimeout",
    "RoleGuard",
    "Services",
    "StatusReader",
    "actor_of",
    "admissions",
    "app_part",
    "batched",
    "call",
    "office_authenticator",
    "rate_class_of",
    "require",
    "services_of",
]

P = ParamSpec("P")
T = TypeVar("T")
T2 = TypeVar("T2")

#: ``(api_key, now) -> ApiClient``, raising :class:`~card_service.clients.Unauthenticated`.
Authenticator = Callable[[str, dt.datetime], ApiClient]
Clock = Callable[[], dt.datetime]


class ClientsUnavailable(PermitError):
    """The office has no register of API clients (nobody can be authenticated)."""

    code = "clients_unavailable"
    kind = ErrorKind.UNAVAILABLE


class RequestTimeout(PermitError):
    """The office did not answer within the request timeout; a card or register change may
    still complete (look the permit up before retrying)."""

    code = "request_timeout"
    kind = ErrorKind.UNAVAILABLE


class RateLimited(PermitError):
    """Too many requests of this client on this route class (429 with ``Retry-After``)."""

    code = "rate_limited"
    kind = ErrorKind.RATE_LIMITED

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: The route classes of the rate limits (``PERMIT_RATE_LIMITS``, docs/shared-state.md).
ROUTE_CLASSES = ("default", "challenges", "status")


@dataclass(frozen=True)
class Limits:
    """Request limits: bodies (bytes), JSON nesting, the time a client has to send its
    whole body (seconds: a body that stops arriving is 408, not a connection held), the
    timeout of a non-streaming request (seconds; an issuance stream is bounded by its
    workflow), the lifetime of a reader-event stream (seconds; the client reconnects),
    how many of those (and, apart, of issuance streams) one client may hold open at once
    (429 beyond) and how long the public ``/readyz`` answer is reused (seconds of the app's
    clock, and at most that of real time; 0: probe every time)."""

    max_body: int = 1024 * 1024
    max_json: int = 64 * 1024
    max_json_depth: int = 32
    body_timeout: float = 15.0
    timeout: float = 30.0
    event_stream: float = 3600.0
    streams_per_client: int = 4
    ready_cache: float = 1.0


@dataclass(frozen=True)
class Services:
    """What the app was built with (``app.state.services``); ``verifications`` gathers
    the relying parties' verifications that arrive together into one office call."""

    office: Office
    authenticate: Authenticator
    now: Clock
    limits: Limits
    problem_base: str
    verifications: Batcher[PresentationRequest, RelyingVerification]


def office_authenticator(office: Office) -> Authenticator:
    """``office.authenticate_client``, looked up at each call (the client register is part
    of the office once it has one; until then nobody is authenticated)."""

    def authenticate(key: str, now: dt.datetime) -> ApiClient:
        method = getattr(office, "authenticate_client", None)
        if method is None:
            raise ClientsUnavailable("this office has no register of API clients")
        client = method(key, now)
        if not isinstance(client, ApiClient):
            raise ClientsUnavailable("the register of API clients answered no client")
        return client

    return authenticate


#: What the middleware admits: an API key and the rate class of the route it asks for.
Admission = tuple[str, str | None]
#: The answer: the client and the request's count in that class (``None``: no class).
Admitted = tuple[ApiClient, CountedRequest | None]


def admissions(
    office: Office, authenticate: Authenticator, now: Clock, *, batched_lookup: bool
) -> Callable[[Sequence[Admission]], list[Admitted | PermitError]]:
    """The work of the middleware's admission batches (:class:`~.batching.Batcher`): each
    key authenticated (``batched_lookup``: the office's client register, every row on one
    connection; otherwise ``authenticate`` per key), then every admitted request counted
    against its client's limit of its route's class (one round trip to the shared store).
    Each answer is the admission or the error that refuses it."""

    def admit(batch: Sequence[Admission]) -> list[Admitted | PermitError]:
        at = now()
        found: list[ApiClient | PermitError]
        if batched_lookup:
            found = list(office.authenticate_clients([key for key, _ in batch], at))
        else:
            found = []
            for key, _ in batch:
                try:
                    found.append(authenticate(key, at))
                except PermitError as exc:
                    found.append(exc)
        hits = [
            (i, client.client_id, rate_class)
            for i, ((_, rate_class), client) in enumerate(zip(batch, found, strict=True))
            if isinstance(client, ApiClient) and rate_class is not None
        ]
        decisions = office.shared_state.limiter.hit_many([(c, r, at) for _, c, r in hits])
        counted = {i: CountedRequest(r, d) for (i, _, r), d in zip(hits, decisions, strict=True)}
        return [
            client if isinstance(client, PermitError) else (client, counted.get(i))
            for i, client in enumerate(found)
        ]

    return admit


def services_of(request: Request) -> Services:
    services = request.app.state.services
    assert isinstance(services, Services)
    return services


def app_part(request: Request, name: str, kind: type[T], make: Callable[[Services], T]) -> T:
    """The app's one ``kind`` under ``app.state.<name>``, made from its services on first
    use (a hub, a slot count, a cache: one per app, whichever request comes first)."""
    state = request.app.state
    part = getattr(state, name, None)
    if part is None:
        part = make(services_of(request))
        setattr(state, name, part)
    assert isinstance(part, kind)
    return part


def _office(request: Request) -> Office:
    return services_of(request).office


OfficeDep = Annotated[Office, Depends(_office)]

#: The API key (``Authorization: Bearer <key>``), documented as the ``ApiKey`` scheme of
#: every keyed operation (:func:`~.openapi.install_openapi`; the key itself is read by the
#: middleware, before the request is, so no route depends on this object).
bearer = HTTPBearer(
    scheme_name="ApiKey",
    description="An API key of the permit service: `Authorization: Bearer <key>`. "
    "Keys are created by an administrator (`permit clients create`) and shown once.",
    auto_error=False,
)


class RoleGuard:
    """The dependency of :func:`require`: authenticate the bearer key, admit only
    ``roles``, then count the request against the client's rate limit of ``rate_class``
    (every keyed route is rate-limited: 429 ``rate_limited`` with ``Retry-After``).

    The authentication and the count normally happened in the middleware
    (:class:`~.middleware.RequireCredentials`, one worker-thread hop for both, before the
    body is read); the guard only decides on them.  Whatever the middleware did not do for
    this route's class, the guard does itself, in a worker thread."""

    def __init__(self, roles: frozenset[Role], rate_class: str = "default") -> None:
        if not roles:
            raise ValueError("a route must admit at least one role")
        if rate_class not in ROUTE_CLASSES:
            raise ValueError(f"not a route class: {rate_class!r}")
        self.roles = roles
        self.rate_class = rate_class

    async def __call__(self, request: Request) -> ApiClient:
        services = services_of(request)
        # authenticated, and counted against this route's class, before the request was
        # read (middleware.RequireCredentials): one worker-thread hop for both
        found = getattr(request.state, CLIENT_STATE, None)
        client: ApiClient
        if isinstance(found, ApiClient):
            client = found
        else:  # an app without the middleware (never create_app's): the header, here
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise Unauthenticated("an API key is required (Authorization: Bearer <key>)")
            client = await anyio.to_thread.run_sync(
                services.authenticate, key.strip(), services.now()
            )
        request.state.client_id = client.client_id
        if client.role not in self.roles:
            raise Forbidden(f"the {client.role} role may not use this route")
        counted = getattr(request.state, RATE_STATE, None)
        if isinstance(counted, CountedRequest) and counted.rate_class == self.rate_class:
            decision = counted.decision
        else:  # not counted for this class on the way in: count it now, never skip it
            decision = await anyio.to_thread.run_sync(
                services.office.shared_state.limiter.hit,
                client.client_id,
                self.rate_class,
                services.now(),
            )
        if not decision.allowed:
            raise RateLimited(
                f"too many {self.rate_class} requests: retry in {decision.retry_after_s} s",
                decision.retry_after_s,
            )
        return client


def rate_class_of(route: APIRoute) -> str | None:
    """The rate class of the role guard of ``route`` (``None``: it has none)."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, RoleGuard):
            return dependant.call.rate_class
        stack.extend(dependant.dependencies)
    return None


def require(*roles: Role, rate_class: str = "default") -> RoleGuard:
    """The dependency admitting ``roles`` (and nobody else), rate-limited by
    ``rate_class``."""
    return RoleGuard(frozenset(roles), rate_class)


#: An issuing officer.
Officer = Annotated[ApiClient, Depends(require(Role.OFFICER))]
#: Counter staff: a clerk (or an officer at the counter).
Counter = Annotated[ApiClient, Depends(require(Role.CLERK, Role.OFFICER))]
#: A merchant or bank (challenges count as ``challenges``, verifications as ``default``).
RelyingParty = Annotated[ApiClient, Depends(require(Role.RELYING_PARTY))]
#: A relying party asking for a challenge (the ``challenges`` rate class).
Challenger = Annotated[ApiClient, Depends(require(Role.RELYING_PARTY, rate_class="challenges"))]
#: Who may ask a permit's status (the strict ``status`` rate class: no enumeration).
StatusReader = Annotated[
    ApiClient, Depends(require(Role.RELYING_PARTY, Role.CLERK, Role.OFFICER, rate_class="status"))
]

_ACTOR_CHARS = re.compile(r"[^A-Za-z0-9_.:@-]")


def actor_of(client: ApiClient) -> str:
    """The audit actor of ``client``: ``api:<role>:<client id>`` within the audit log's
    alphabet (64 characters of ``[A-Za-z0-9_.:@-]``)."""
    return _ACTOR_CHARS.sub("_", f"api:{client.role.value}:{client.client_id}")[:64]


async def batched(services: Services, batcher: Batcher[T2, T], item: T2) -> T:
    """``item``'s answer from ``batcher`` (its batch runs in a worker thread), within the
    request timeout, as :func:`call` (asyncio's own timeout: only a future is awaited)."""
    try:
        async with asyncio.timeout(services.limits.timeout):
            return await batcher.submit(item)
    except TimeoutError:
        raise RequestTimeout(
            f"no answer within {services.limits.timeout:g} s: the operation may still complete"
        ) from None


async def call(services: Services, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run the blocking office call ``fn`` in a worker thread, within the request timeout.

    On timeout the request answers 503 ``request_timeout``; the thread is left to finish
    (a card workflow is never cut off between two steps).
    """
    bound = functools.partial(fn, *args, **kwargs)
    try:
        with anyio.fail_after(services.limits.timeout):
            return await anyio.to_thread.run_sync(bound, abandon_on_cancel=True)
    except TimeoutError:
        raise RequestTimeout(
            f"no answer within {services.limits.timeout:g} s: the operation may still complete"
        ) from None
