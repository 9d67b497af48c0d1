"""The one app factory of the permit service: :func:`create_app`.

The app is a thin shell over an :class:`~card_service.office.Office`: routes (one module per
resource, :mod:`.routes`) authorise through role guards (:mod:`.deps`), call one office
method, and return a model (:mod:`.models`); failures are mapped in one place
(:mod:`.problems`).  docs/http-api.md describes the routes, roles and errors.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from card_service.office import Office

from .batching import Batcher
from .deps import Authenticator, Clock, Limits, Services, admissions, office_authenticator
from .metrics import HttpMetrics
from .middleware import BodyLimits, Metrics, RequestContext, RequireCredentials
from .openapi import api_routes, declared_roles, install_openapi, other_routes, rate_classes
from .problems import DEFAULT_PROBLEM_BASE, install_handlers
from .routes import (
    applications,
    audit,
    clients,
    health,
    permits,
    reader_events,
    readers,
    relying,
    status,
    trust,
    verifications,
)
from .routes.health import PUBLIC_PATHS
from .sse import ProgressRelay

__all__ = ["API_VERSION", "create_app", "undeclared_routes"]

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"

#: What runs at start-up with the office (``permit serve``: the reconciliation).
Startup = Callable[[Office], None]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def undeclared_routes(app: FastAPI) -> list[str]:
    """Routes that declare no roles and are not public probes (must be none): API routes
    without a role guard, and any other route (a WebSocket, a mount) off the public paths."""
    return [
        f"{sorted(info.methods)} {info.path}"
        for info in api_routes(app)
        if info.path not in PUBLIC_PATHS and declared_roles(info.route) is None
    ] + [f"[{kind}] {path}" for kind, path in other_routes(app) if path not in PUBLIC_PATHS]


def create_app(
    office: Office,
    *,
    authenticate: Authenticator | None = None,
    now: Clock | None = None,
    limits: Limits | None = None,
    problem_base: str = DEFAULT_PROBLEM_BASE,
    on_startup: Startup | None = None,
    on_shutdown: Startup | None = None,
) -> FastAPI:
    """The permit service over ``office``.

    ``authenticate``: ``(api_key, now) -> ApiClient`` (default: ``office.authenticate_client``,
    looked up at call time); ``now``: the clock (tests fix it); ``limits``: body, nesting and
    timeout limits; ``problem_base``: the prefix of every problem ``type``; ``on_startup``:
    run once in the lifespan before the first request, ``on_shutdown`` after the last (the
    office's owner closes it there; otherwise the caller owns ``office``).
    """
    services = Services(
        office=office,
        authenticate=authenticate or office_authenticator(office),
        now=now or _utc_now,
        limits=limits or Limits(),
        problem_base=problem_base,
        verifications=Batcher(office.verify_presentations),
    )
    # every progress event of an issuance goes to the stream of the request that runs it
    if not isinstance(office.on_progress, ProgressRelay):
        office.on_progress = ProgressRelay(office.on_progress)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            await anyio.to_thread.run_sync(on_startup, office)
        try:
            yield
        finally:
            if on_shutdown is not None:
                await anyio.to_thread.run_sync(on_shutdown, office)

    app = FastAPI(
        title="permit",
        version=API_VERSION,
        summary="Residence-permit IC cards: issuing offices and service counters",
        description="Authenticate with `Authorization: Bearer <API key>`. Every error is an "
        "RFC 9457 `application/problem+json` document with a stable `type`; every response "
        "carries `X-Request-ID`. See docs/http-api.md.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = HttpMetrics()
    for module in (
        health,
        applications,
        reader_events,
        readers,
        verifications,
        relying,
        permits,
        status,
    ):
        app.include_router(module.router)
    for module in (clients, audit, trust):  # administration, audit, public trust list
        app.include_router(module.router)
    missing = undeclared_routes(app)
    if missing:  # deny by default: a route without roles is a bug, not an open door
        raise RuntimeError(f"routes without a role declaration: {', '.join(missing)}")
    install_handlers(app, problem_base)
    install_openapi(app)
    lim = services.limits
    app.add_middleware(
        BodyLimits,
        max_body=lim.max_body,
        max_json=lim.max_json,
        max_depth=lim.max_json_depth,
        body_timeout=lim.body_timeout,
        problem_base=problem_base,
    )
    # authentication and the rate-limit count of the requests that arrive together: one
    # worker-thread hop, one register connection, one shared-store round trip per batch
    admitting = Batcher(
        admissions(
            office,
            services.authenticate,
            services.now,
            batched_lookup=authenticate is None and hasattr(office, "authenticate_clients"),
        )
    )
    app.add_middleware(
        RequireCredentials,
        problem_base=problem_base,
        public=lambda path: path in PUBLIC_PATHS,
        admit=lambda key, rate_class: admitting.submit((key, rate_class)),
        rate_class=rate_classes(app),
    )
    app.add_middleware(Metrics, metrics=app.state.metrics)
    app.add_middleware(RequestContext, problem_base=problem_base)
    return app
