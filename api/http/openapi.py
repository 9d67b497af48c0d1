"""OpenAPI helpers: the error responses a route declares, and the document's last touches
(problem+json media type for every error, the roles of each operation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import compile_path
from starlette.types import Scope

from .admin_models import ReaderEventModel
from .deps import RoleGuard, bearer, rate_class_of
from .links import install_links
from .middleware import RateClassifier
from .models import Issued, PinLetter, Progress
from .problems import PROBLEM_MEDIA_TYPE, TITLES, FieldError, Problem

__all__ = [
    "RouteInfo",
    "api_routes",
    "authenticated",
    "declared_roles",
    "errors",
    "install_openapi",
    "other_routes",
    "rate_classes",
]

_WHY: dict[int, str] = {
    401: "no API key, or an unknown, expired or revoked one",
    403: "the client's role may not use this route",
    404: "no such permit, application or reader",
    408: "the request body did not arrive in time (Limits.body_timeout)",
    409: "the current state does not allow it (already revoked, card busy)",
    413: "request body too large",
    422: "invalid request, a rule refuses it, or the card failed a check",
    429: "too many requests (Retry-After)",
    500: "internal error or unacceptable configuration",
    503: "a reader, card, the register or the key store is unavailable (or no readers here)",
}


PROBLEM_REF = "#/components/schemas/Problem"
#: The problem code of an example where one status has one code.
_EXAMPLE_CODES: dict[int, str] = {408: "body_timeout"}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for ``statuses`` (401, 403, 413, 500 are always added for
    authenticated routes by :func:`authenticated_errors`)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        code = _EXAMPLE_CODES.get(status, "example")
        example = {
            "type": f"urn:permit:problem:{code}",
            "title": TITLES.get(status, "Error"),
            "status": status,
            "detail": _WHY.get(status, "error"),
            "instance": "urn:request:4f2c0b0d9a8e4e55a1c3a1c0de5e7b1f",
            "code": code,
        }
        out[status] = {
            "model": Problem,
            "description": _WHY.get(status, TITLES.get(status, "Error")),
            "content": {PROBLEM_MEDIA_TYPE: {"example": example}},
        }
    return out


def authenticated(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The errors of an authenticated route: 401, 403, 413, 422, 429, 500 and ``statuses``.

    A keyed route with a request body also declares 408 ``body_timeout``
    (:class:`~.middleware.BodyLimits`): :func:`install_openapi` adds it to every operation
    of the document that has a ``requestBody`` and a 401, so no route can forget it."""
    return errors(*sorted({401, 403, 413, 422, 429, 500, *statuses}))


def _declare_body_timeout(operation: dict[str, Any]) -> None:
    """408 on a keyed operation with a body (what :func:`authenticated` cannot see)."""
    responses = operation.get("responses", {})
    if "requestBody" in operation and "401" in responses and "408" not in responses:
        declared = errors(408)[408]
        responses["408"] = {
            "description": declared["description"],
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": PROBLEM_REF},
                    **declared["content"][PROBLEM_MEDIA_TYPE],
                }
            },
        }
        operation["responses"] = dict(
            sorted(responses.items(), key=lambda item: (not item[0].isdigit(), item[0]))
        )


@dataclass(frozen=True)
class RouteInfo:
    """One route of an app as served: its path (with router prefixes), methods, route."""

    path: str
    methods: frozenset[str]
    route: APIRoute


def api_routes(app: FastAPI) -> list[RouteInfo]:
    """Every API route of ``app``, through included routers (FastAPI 0.165 keeps included
    routers as such; before, ``include_router`` copied their routes into ``app.routes``)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        return [
            RouteInfo(route.path, frozenset(route.methods or ()), route)
            for route in app.routes
            if isinstance(route, APIRoute)
        ]
    out = []
    for context in iterate(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            path = context.path or route.path
            methods = context.methods or route.methods or set()
            out.append(RouteInfo(path, frozenset(methods), route))
    return out


def other_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every route of ``app`` that is not an :class:`APIRoute` (a WebSocket route, a mounted
    app, a plain Starlette route such as the API documents'), as (kind, path): none of them
    has a role guard, so only public paths may be among them."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        found = [(route, getattr(route, "path", "")) for route in app.routes]
    else:
        found = [
            (c.original_route, c.path or getattr(c.original_route, "path", ""))
            for c in iterate(app.routes)
        ]
    return [
        (type(route).__name__, str(path))
        for route, path in found
        if not isinstance(route, APIRoute)
    ]


def declared_roles(route: APIRoute) -> frozenset[str] | None:
    """The roles a route admits (``None``: it declares none)."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, RoleGuard):
            return frozenset(r.value for r in dependant.call.roles)
        stack.extend(dependant.dependencies)
    return None


def rate_classes(app: FastAPI) -> RateClassifier:
    """For the middleware: the rate class of the guarded route a request will reach (the
    first route whose method and full path match), or ``None``.  Only a shortcut: the
    guard counts the request itself when the middleware did not count it for its class."""
    table = [
        (compile_path(info.path)[0], info.methods, found)
        for info in api_routes(app)
        if (found := rate_class_of(info.route)) is not None
    ]

    def classify(scope: Scope) -> str | None:
        path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        method = scope.get("method")
        for pattern, methods, found in table:
            if method in methods and pattern.match(path):
                return found
        return None

    return classify


def install_openapi(app: FastAPI) -> None:
    """Serve an OpenAPI document whose errors are ``application/problem+json``, whose
    operations name their roles (``x-permit-roles``) and whose answers link to the
    operations they feed (:mod:`.links`)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        roles = {
            (info.path, method.lower()): sorted(found)
            for info in api_routes(app)
            if (found := declared_roles(info.route)) is not None
            for method in info.methods
        }
        scheme = bearer.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        document.setdefault("components", {}).setdefault("securitySchemes", {})[
            bearer.scheme_name
        ] = scheme
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                if (path, method) in roles:
                    operation["x-permit-roles"] = roles[(path, method)]
                    operation["security"] = [{bearer.scheme_name: []}]
                _declare_body_timeout(operation)
                for status, response in operation.get("responses", {}).items():
                    if status.isdigit() and int(status) >= 400:
                        content = response.setdefault("content", {})
                        plain = content.get("application/json", {})
                        if plain.get("schema") == {"$ref": PROBLEM_REF}:
                            content.pop("application/json")
                            content.setdefault(PROBLEM_MEDIA_TYPE, {})["schema"] = plain["schema"]
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in (Progress, Issued, PinLetter, Problem, FieldError, ReaderEventModel):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas.setdefault(name, sub)
            schemas.setdefault(model.__name__, schema)
        install_links(document)
        app.openapi_schema = document
        return document

    setattr(app, "openapi", build)  # noqa: B010 - FastAPI's documented override
