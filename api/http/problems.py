"""Errors in one place: every failure the service answers is an RFC 9457 problem document.

A :class:`~permit_errors.PermitError` maps by its ``kind`` to an HTTP status
(:data:`STATUS_BY_KIND`) and by its ``code`` to the problem's stable ``type``
(``<base><code>``, base ``urn:permit:problem:`` unless configured); ``detail`` is the error's
safe message, ``instance`` the request id.  Request validation failures name the fields
(``loc``) and the rule (``type``) only - never the values sent, which may be personal data.
Anything unexpected is a generic 500, logged with the request id (never the body).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from card_service.clients import Unauthenticated
from card_service.office.errors import ApplicationRejected, ApprovedNotIssued
from permit_errors import ErrorKind, PermitError

__all__ = [
    "DEFAULT_PROBLEM_BASE",
    "PROBLEM_MEDIA_TYPE",
    "STATUS_BY_KIND",
    "FieldError",
    "Problem",
    "encode",
    "install_handlers",
    "problem_body",
    "problem_for",
    "problem_headers",
    "problem_response",
    "request_id_of",
    "status_of",
]

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
DEFAULT_PROBLEM_BASE = "urn:permit:problem:"

#: The one mapping of error kinds to HTTP statuses (docs/http-api.md).  REFUSED is 422: the
#: request was understood and a rule refuses it (not eligible, not due); CONFLICT (409) is
#: reserved for the current state (already revoked, card busy).  UNAUTHORISED is 401 only for
#: the caller's API key; a card's or the station's own credential failing is not the
#: caller's to fix by authenticating again, and answers 422 (see :func:`status_of`).
STATUS_BY_KIND: Mapping[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.REFUSED: 422,
    ErrorKind.UNAUTHORISED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTEGRITY: 422,
    ErrorKind.CONFIG: 500,
}

TITLES: Mapping[int, str] = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    413: "Request body too large",
    422: "Request cannot be processed",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}

#: The ``WWW-Authenticate`` challenge of a 401 (RFC 6750).
WWW_AUTHENTICATE = 'Bearer realm="permit"'


class FieldError(BaseModel):
    """One invalid request field: where and which rule, never the value."""

    loc: list[str | int]
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    type: str = Field(examples=["urn:permit:problem:not_found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no such permit: 3301062026000001X"])
    #: The request id (``X-Request-ID``).
    instance: str = Field(examples=["urn:request:4f2c0b0d9a8e4e55a1c3a1c0de5e7b1f"])
    code: str = Field(examples=["not_found"], description="stable machine code")
    kind: str | None = Field(default=None, description="the error kind (permit_errors)")
    #: An application's refusal reasons (stable codes).
    reasons: list[str] | None = None
    #: An approved application a retry must name (``?application_id=``).
    application_id: int | None = None
    #: Seconds to wait (429).
    retry_after: int | None = None
    #: Invalid fields of a request (422 ``request_invalid``).
    errors: list[FieldError] | None = None


def status_of(exc: PermitError) -> int:
    """The HTTP status of ``exc`` (:data:`STATUS_BY_KIND`)."""
    if exc.kind is ErrorKind.UNAUTHORISED and not isinstance(exc, Unauthenticated):
        return 422
    return STATUS_BY_KIND.get(exc.kind, 500)


def problem_body(
    *,
    base: str,
    status: int,
    code: str,
    detail: str,
    request_id: str,
    kind: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The problem document as a JSON-ready dict (``None`` extensions left out)."""
    body: dict[str, Any] = {
        "type": f"{base}{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": f"urn:request:{request_id}",
        "code": code,
    }
    if kind is not None:
        body["kind"] = kind
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_for(exc: PermitError, *, base: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """``exc`` as (status, problem document): the one mapping, for responses and SSE."""
    status = status_of(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, ApplicationRejected):
        extra["reasons"] = list(exc.reasons)
    if isinstance(exc, ApprovedNotIssued):
        extra["application_id"] = exc.application_id
    if exc.kind is ErrorKind.RATE_LIMITED:
        extra["retry_after"] = _retry_after(exc)
    body = problem_body(
        base=base,
        status=status,
        code=exc.code,
        detail=exc.message,
        request_id=request_id,
        kind=str(exc.kind),
        **extra,
    )
    return status, body


def _retry_after(exc: PermitError) -> int:
    value = getattr(exc, "retry_after", None)
    try:
        return max(1, int(value if value is not None else 1))
    except (TypeError, ValueError):
        return 1


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "unknown")


def problem_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        dict(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {})
    )


def problem_headers(status: int, body: Mapping[str, Any]) -> dict[str, str]:
    """``WWW-Authenticate`` on a 401, ``Retry-After`` on a 429."""
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if status == 429:
        headers["Retry-After"] = str(body.get("retry_after", 1))
    return headers


def _field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """``loc`` and ``type`` of each validation error: ``input``, ``msg`` and ``ctx`` are
    dropped (they may quote the value sent)."""
    out = []
    for error in errors[:20]:
        loc = [p if isinstance(p, int) else str(p)[:64] for p in error.get("loc", ())]
        out.append({"loc": loc, "type": str(error.get("type", "invalid"))[:64]})
    return out


def install_handlers(app: FastAPI, base: str) -> None:
    """The exception handlers: :class:`PermitError`, request validation, HTTP errors."""

    async def permit_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PermitError)
        status, body = problem_for(exc, base=base, request_id=request_id_of(request))
        log.info(
            "request %s failed: %s (%s) -> %d", request_id_of(request), exc.code, exc.kind, status
        )
        return problem_response(status, body, problem_headers(status, body))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = _field_errors(list(exc.errors()))
        names = ", ".join(".".join(str(p) for p in f["loc"]) for f in fields) or "the request"
        body = problem_body(
            base=base,
            status=422,
            code="request_invalid",
            detail=f"invalid request: {names}",
            request_id=request_id_of(request),
            kind=str(ErrorKind.INVALID),
            errors=fields,
        )
        return problem_response(422, body)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        code = {404: "route_not_found", 405: "method_not_allowed"}.get(status, f"http_{status}")
        detail = TITLES.get(status, "Error") if not isinstance(exc.detail, str) else exc.detail
        if status == 400:  # FastAPI could not parse the body (e.g. not UTF-8): a malformed
            # body, answered as every other malformed body is (documented 422, no echo)
            status, code, detail = 422, "body_malformed", "the request body cannot be parsed"
        body = problem_body(
            base=base, status=status, code=code, detail=detail, request_id=request_id_of(request)
        )
        return problem_response(status, body, exc.headers)

    app.add_exception_handler(PermitError, permit_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


def encode(body: Mapping[str, Any]) -> bytes:
    """A problem document as bytes (for the middlewares, which answer below FastAPI)."""
    return json.dumps(body, separators=(",", ":")).encode()
