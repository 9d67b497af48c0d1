"""Attacks on authentication: paths that might slip past the public-path check, methods
the role guards might not see, the Authorization header in odd forms, keys that stopped
working, the key comparison, the API documents, WebSockets.  Deny by default throughout:
anything but exactly one valid bearer key on a non-public path is 401."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import json
import re
import types
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient

from api.http import create_app
from api.http.app import undeclared_routes
from card_service.clients import Role
from card_service.clients import keys as client_keys
from card_service.office import EphemeralOffice
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.http.attack_tools import raw_request
from tests.http.conftest import KEYS, assert_problem, auth, insert_blank
from tests.http.test_roles import _concrete, _routes

ADMIN = (b"authorization", f"Bearer {KEYS[Role.ADMIN]}".encode())
RELYING = (b"authorization", f"Bearer {KEYS[Role.RELYING_PARTY]}".encode())


def _code(body: bytes) -> str:
    return str(json.loads(body)["code"])


# -- paths ---------------------------------------------------------------------------------

#: Variants of keyed paths (and of public paths dressed up as keyed ones), as the server
#: hands them to the app: (decoded path, raw path).  None may answer without a key.
PATH_TRICKS = [
    ("/v1/clients/", b"/v1/clients/"),
    ("//v1/clients", b"//v1/clients"),
    ("/V1/CLIENTS", b"/V1/CLIENTS"),
    ("/v1/clients", b"/v1%2Fclients"),  # %2F decoded by the server
    ("/v1/clients", b"/v1/%63lients"),
    ("/v1/./clients", b"/v1/./clients"),
    ("/v1/../v1/clients", b"/v1/%2e%2e/v1/clients"),
    ("/healthz/../v1/clients", b"/healthz/../v1/clients"),
    ("/v1/trust/../clients", b"/v1/trust/../clients"),
    ("/docs/../v1/audit/entries", b"/docs/%2E%2E/v1/audit/entries"),
    ("/openapi.json/../v1/clients", b"/openapi.json/../v1/clients"),
    ("/v1/status-list/../clients", b"/v1/status-list/..%2Fclients"),
    ("/healthz/", b"/healthz/"),
    ("/HEALTHZ", b"/HEALTHZ"),
    ("/v1/trust/", b"/v1/trust/"),
    ("/healthz%00", b"/healthz%00"),
    ("/healthz\x00", b"/healthz%00"),
    ("/healthz ", b"/healthz%20"),
    ("/v1/permits/healthz", b"/v1/permits/healthz"),
    ("/v1/permits/metrics/status", b"/v1/permits/metrics/status"),
    ("/v1/readers/docs/verification", b"/v1/readers/docs/verification"),
    ("/v1/readers//healthz/verification", b"/v1/readers/%2Fhealthz/verification"),
    ("/v1/clients/openapi.json/revocation", b"/v1/clients/openapi.json/revocation"),
    ("/v1/permits/%2e%2e/status", b"/v1/permits/%252e%252e/status"),
]


@pytest.mark.parametrize(("path", "raw"), PATH_TRICKS)
@pytest.mark.parametrize("method", ["GET", "POST", "HEAD", "OPTIONS", "TRACE", "DELETE"])
def test_path_tricks_need_a_key(app: FastAPI, path: str, raw: bytes, method: str) -> None:
    response = raw_request(app, method, path, raw_path=raw, chunks=[b"{}"])
    assert response.status == 401, (method, path, response.status)
    assert response.header(b"www-authenticate") == [b'Bearer realm="permit"']
    assert _code(response.body) == "unauthenticated"


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE", "PATCH", "PUT", "DELETE", "FOO"])
def test_every_keyed_route_under_every_method(app: FastAPI, method: str) -> None:
    """No key: 401 whatever the method.  A key whose role the route does not admit: never
    a success (403, or 405 for a method the route has not)."""
    for _, template, roles in _routes(app):
        path = _concrete(template)
        anonymous = raw_request(app, method, path)
        assert anonymous.status == 401, (method, path)
        outsider = next(r for r in Role if r.value not in roles)
        header = (b"authorization", f"Bearer {KEYS[outsider]}".encode())
        refused = raw_request(app, method, path, headers=[header])
        assert refused.status in (403, 405), (method, path, outsider, refused.status)


def test_method_override_headers_are_ignored(client: TestClient) -> None:
    """A relying party dressing a GET up as an administrator's POST gets the GET it sent."""
    for header in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        headers = {**auth(Role.RELYING_PARTY), header: "POST"}
        assert_problem(client.get("/v1/clients", headers=headers), 403, "forbidden")
        response = client.get("/v1/permits/3301062026999999X/revocation", headers=headers)
        assert response.status_code in (403, 405)
    response = client.get("/v1/clients?_method=POST", headers=auth(Role.RELYING_PARTY))
    assert_problem(response, 403, "forbidden")


# -- the Authorization header --------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [ADMIN, (b"authorization", b"Bearer not-a-key")],
        [(b"authorization", b"Bearer not-a-key"), ADMIN],
        [RELYING, ADMIN],  # two valid keys: which one would a proxy have logged?
        [ADMIN, ADMIN],
        [(b"authorization", b"Bearer")],
        [(b"authorization", b"Bearer ")],
        [(b"authorization", b"Basic " + KEYS[Role.ADMIN].encode())],
        [(b"authorization", KEYS[Role.ADMIN].encode())],
        [(b"authorization", b"Bearer " + KEYS[Role.ADMIN].encode() + b" extra")],
        [(b"authorization", b"Bearer " + KEYS[Role.ADMIN].encode() + b", Bearer x")],
        [(b"authorization", b"Bearer\t" + KEYS[Role.ADMIN].encode())],
        [(b"authorization", b"Bearer " + b"A" * 100_000)],
        [(b"authorization", b"Bearer \xff\xfe\x00\x01")],
        [(b"x-api-key", KEYS[Role.ADMIN].encode())],
        [(b"cookie", b"Authorization=Bearer " + KEYS[Role.ADMIN].encode())],
    ],
)
def test_odd_authorization_headers_are_refused(
    app: FastAPI, headers: list[tuple[bytes, bytes]]
) -> None:
    response = raw_request(app, "GET", "/v1/clients", headers=headers)
    assert response.status == 401, response.body
    assert _code(response.body) == "unauthenticated"
    assert KEYS[Role.ADMIN].encode() not in response.body


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer " + KEYS[Role.ADMIN].encode(),
        b"bearer " + KEYS[Role.ADMIN].encode(),  # the scheme is case-insensitive (RFC 9110)
        b"BEARER " + KEYS[Role.ADMIN].encode(),
        b"Bearer  " + KEYS[Role.ADMIN].encode(),
    ],
)
def test_the_bearer_forms_that_are_admitted(app: FastAPI, value: bytes) -> None:
    response = raw_request(app, "GET", "/v1/clients", headers=[(b"authorization", value)])
    assert response.status != 401, response.body


# -- keys that stopped working, against the real register ----------------------------------


@pytest.fixture
def real(office: EphemeralOffice) -> Iterator[TestClient]:
    app = create_app(office, now=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as made:
        yield made


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_expired_revoked_and_unknown_keys_read_the_same(
    real: TestClient, office: EphemeralOffice
) -> None:
    expired = office.create_client("shop 1", "relying_party", NOW - dt.timedelta(days=1))
    revoked = office.create_client("shop 2", "relying_party", NOW - dt.timedelta(days=1))
    for created in (expired, revoked):
        assert real.post("/v1/challenges", headers=_bearer(created.key)).status_code == 201
    office.expire_client(expired.client.client_id, NOW)  # expires at NOW: gone at NOW
    office.revoke_client(revoked.client.client_id, NOW)
    client_id = expired.client.client_id
    unknown_id = "permit_pc_0123456789abcdef_" + expired.key.split("_", 3)[3]
    wrong_secret = f"permit_{client_id}_" + "A" * 43
    bodies = []
    for key in (expired.key, revoked.key, unknown_id, wrong_secret, "garbage"):
        response = real.post("/v1/challenges", headers=_bearer(key))
        body = assert_problem(response, 401, "unauthenticated")
        assert key not in response.text
        bodies.append({k: v for k, v in body.items() if k != "instance"})
    assert all(b == bodies[0] for b in bodies), bodies


def test_keys_are_compared_in_constant_time_whatever_fails(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every well-formed key costs one constant-time comparison of two SHA-256 digests
    (unknown id, wrong secret, right key alike); a malformed one none and no look-up."""
    created = office.create_client("shop", "relying_party", NOW - dt.timedelta(days=1))
    calls: list[tuple[int, int]] = []
    original = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((len(a), len(b)))
        return original(a, b)

    # the module's own view of hmac (other code in the process may compare digests too)
    monkeypatch.setattr(client_keys, "hmac", types.SimpleNamespace(compare_digest=spy))
    secret = created.key.split("_", 3)[3]
    for key, ok in (
        (created.key, True),
        (f"permit_pc_{'0' * 16}_{secret}", False),
        (f"permit_{created.client.client_id}_{'B' * 43}", False),
    ):
        calls.clear()
        if ok:
            assert office.authenticate_client(key, NOW).client_id == created.client.client_id
        else:
            with pytest.raises(Exception, match="API key"):
                office.authenticate_client(key, NOW)
        assert calls == [(64, 64)], key
    calls.clear()
    with pytest.raises(Exception, match="API key"):
        office.authenticate_client("permit_" + "x" * 200, NOW)
    assert calls == []


# -- the API documents ---------------------------------------------------------------------


def test_api_documents_expose_nothing_sensitive(
    real: TestClient, office: EphemeralOffice, tmp_path: Any
) -> None:
    created = office.create_client("bank", "relying_party", NOW - dt.timedelta(days=1))
    # a holder of its own (the synthetic one's name and address are the documents' example)
    application = dataclasses.replace(
        synthetic_application(NOW, seed=5),
        full_name="文档泄露测试人",
        residence_address="杭州市西湖区测试路9号",
    )
    number = office.issue(application, insert_blank(office), NOW).permit_number
    personal = [application.full_name, application.citizen_id, application.residence_address]
    texts = [real.get(p).text for p in ("/openapi.json", "/docs", "/redoc")]
    for text in texts:
        assert created.key not in text and created.key.split("_", 3)[3] not in text
        assert created.client.client_id not in text
        assert number not in text
        for value in personal:
            assert value not in text
        assert not re.search(r"permit_pc_[0-9a-f]{16}_", text)
        assert "postgresql://" not in text and "sqlite" not in text.lower()
        assert str(tmp_path) not in text and "/tmp/" not in text


# -- WebSockets ----------------------------------------------------------------------------


def test_a_websocket_needs_a_key_too(app: FastAPI) -> None:
    """The service has no WebSocket route; if one is ever added it is caught as undeclared
    (it has no role guard) and, until then, refused without a valid key."""

    async def echo(socket: WebSocket) -> None:
        await socket.accept()
        await socket.close()

    app.add_api_websocket_route("/v1/live", echo)
    assert undeclared_routes(app) == ["[APIWebSocketRoute] /v1/live"]
    anonymous = raw_request(app, "GET", "/v1/live", scope_type="websocket")
    assert anonymous.status == -1008
    keyed = raw_request(app, "GET", "/v1/live", scope_type="websocket", headers=[ADMIN])
    assert keyed.status == 101
    for path in ("/v1/clients", "/healthz/../v1/clients"):
        assert raw_request(app, "GET", path, scope_type="websocket").status < 0
