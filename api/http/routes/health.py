"""Public probes: ``/healthz`` (the process answers), ``/readyz`` (the office can reach its
register, key store, readers and shared store), ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from card_service.office import Check, readiness

from ..deps import Clock, app_part, call, services_of
from ..metrics import CONTENT_TYPE_LATEST, HttpMetrics
from ..models import CheckModel, Health, Readiness

__all__ = ["PUBLIC_PATHS", "ReadinessCache", "router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

#: Routes without a role (probes and the API's own documents); every other route must
#: declare its roles (deny by default, checked when the app is built).
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
    | {"/v1/status-list"}  # public material: indices and statuses, no person (routes/status.py)
    | {"/v1/trust"}  # public material for verifiers (routes/trust.py)
)


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health()


def _shared_state(office: Any) -> tuple[CheckModel | None, CheckModel | None]:
    """The office's shared store (nonces, rate limits), from ``SharedState.health()``.

    The store: ``ok`` with the backend as code; ``degraded`` (still ready) when only the
    rate limits have fallen back to this process's memory; ``failed`` when challenges
    cannot be issued or consumed (they fail closed, so the service is not ready).
    The rate limits: ``ok`` with the backend, or ``degraded`` (``rate_limits_per_process``)
    whenever they are counted per process - also while the store is down altogether."""
    store = getattr(office, "shared_state", None)
    probe = getattr(store, "health", None)
    if probe is None:
        return None, None
    failed = CheckModel(status="failed", code="shared_state_unavailable")
    per_process = CheckModel(status="degraded", code="rate_limits_per_process")
    try:
        answer = probe()
    except Exception as exc:
        log.warning("readiness: shared state failed (%s)", type(exc).__name__)
        return failed, per_process
    if not isinstance(answer, dict):
        return failed, per_process
    backend = answer.get("backend")
    healthy = CheckModel(status="ok", code=backend if isinstance(backend, str) else None)
    limits = per_process if answer.get("degraded") else healthy
    if not answer.get("ready"):
        return failed, limits
    if answer.get("degraded"):
        return per_process, limits
    return healthy, limits


class ReadinessCache:
    """The last readiness answer, reused for ``window`` seconds of the app's clock - and
    of the process's monotonic clock, so a wall clock stepped back or stuck never keeps an
    answer longer than ``window`` of real time.

    ``/readyz`` is public (no key, so no rate limit): without it a flood of probes would
    each ask the register, open the key store and list the readers.  Probes run one at a
    time (a request arriving while one runs waits for it and takes its answer); a clock
    that went back starts a new window.  A probe that fails (the request timeout) is not
    kept: the next request probes again."""

    def __init__(self, window: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._monotonic = monotonic
        self._lock: anyio.Lock | None = None
        self._last: tuple[dt.datetime, float, Readiness] | None = None

    async def get(self, now: Clock, probe: Callable[[], Awaitable[Readiness]]) -> Readiness:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            at, tick = now(), self._monotonic()
            if self._last is not None:
                age = (at - self._last[0]).total_seconds()
                real = tick - self._last[1]
                if 0 <= age < self.window and 0 <= real < self.window:
                    return self._last[2]
            answer = await probe()
            self._last = (at, tick, answer)
            return answer


def _readiness_cache(request: Request) -> ReadinessCache:
    return app_part(
        request, "readiness", ReadinessCache, lambda s: ReadinessCache(s.limits.ready_cache)
    )


def _check(check: Check) -> CheckModel:
    return CheckModel.model_validate({"status": check.status, "code": check.code})


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The office can serve: register, keys, readers, shared store",
    description="Public. The answer is reused for a second (`Limits.ready_cache`): a flood "
    "of probes asks the register, the key store and the readers once a second at most.",
    responses={503: {"model": Readiness, "description": "not ready (see the failed check)"}},
)
async def readyz(request: Request) -> JSONResponse:
    services = services_of(request)

    def probe() -> Readiness:
        found = readiness(services.office)
        shared, limits = _shared_state(services.office)
        ready = found.ready and (shared is None or shared.status != "failed")
        return Readiness(
            ready=ready,
            database=_check(found.database),
            keys=_check(found.keys),
            readers=_check(found.readers),
            reader_count=len(found.reader_names),
            shared_state=shared,
            rate_limits=limits,
        )

    async def probed() -> Readiness:
        return await call(services, probe)

    answer = await _readiness_cache(request).get(services.now, probed)
    return JSONResponse(answer.model_dump(mode="json"), status_code=200 if answer.ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "metrics"}},
)
async def metrics(request: Request) -> Response:
    registry: HttpMetrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
