"""Deny by default: every route declares its roles, and the whole matrix (every route x
every role x no key) answers 401/403/admitted as declared.  Generated from the routes, so a
new route is covered without touching this file."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.app import create_app, undeclared_routes
from api.http.openapi import api_routes, declared_roles
from api.http.routes.health import PUBLIC_PATHS
from card_service.clients import Role
from card_service.office import EphemeralOffice
from tests.http.conftest import assert_problem, auth, fake_authenticate

#: Values for path parameters: an empty simulated reader, an unknown permit.
PARAMS = {
    "reader": "Permit Sim Reader 1",
    "number": "3301062026999999X",
    "client_id": "pc_0000000000000000",
}


def _routes(app: FastAPI) -> list[tuple[str, str, frozenset[str]]]:
    out = []
    for info in api_routes(app):
        if info.path in PUBLIC_PATHS:
            continue
        roles = declared_roles(info.route)
        assert roles is not None, info.path
        for method in sorted(info.methods):
            out.append((method, info.path, roles))
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)


def test_every_route_declares_roles(app: FastAPI) -> None:
    assert undeclared_routes(app) == []
    assert len(_routes(app)) >= 8


def test_a_route_without_roles_is_caught(office: EphemeralOffice) -> None:
    app = create_app(office, authenticate=fake_authenticate)

    @app.get("/v1/open")
    async def open_door() -> dict[str, str]:
        return {}

    assert undeclared_routes(app) == ["['GET'] /v1/open"]


def test_the_role_matrix(app: FastAPI, client: TestClient) -> None:
    for method, path, roles in _routes(app):
        path = _concrete(path)
        anonymous = client.request(method, path, json={})
        body = assert_problem(anonymous, 401, "unauthenticated")
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert "Bearer" not in body["detail"] or "required" in body["detail"]
        wrong = client.request(method, path, json={}, headers={"Authorization": "Bearer not-a-key"})
        assert_problem(wrong, 401, "unauthenticated")
        for role in Role:
            response = client.request(method, path, json={}, headers=auth(role))
            if role.value in roles:
                assert response.status_code not in (401, 403), (method, path, role)
                # admitted: the route ran (an unknown permit, an empty reader, a bad body)
                assert response.status_code != 500, (method, path, role, response.text)
            else:
                assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/openapi.json", "/docs"])
def test_public_probes_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_openapi_names_roles_and_the_bearer_scheme(app: FastAPI) -> None:
    document = app.openapi()
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    for method, template, roles in _routes(app):
        operation = document["paths"][template][method.lower()]
        assert set(operation["x-permit-roles"]) == roles
        assert operation["security"] == [{"ApiKey": []}]
        for status in ("401", "403", "422", "500"):
            content = operation["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (template, status)
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }
