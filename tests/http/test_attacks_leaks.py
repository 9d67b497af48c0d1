"""Attacks on confidentiality: a whole flow at debug level searched for every key, PIN, PUK,
nonce and personal value it handled; problem bodies and headers that might echo what was
sent; metrics labels that might carry raw paths or any method a client invents; request
ids that might carry CRLF or megabytes into the logs."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http import create_app
from card_service.clients import Role
from card_service.office import EphemeralOffice
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.http.attack_tools import raw_request
from tests.http.conftest import KEYS, auth, insert_blank, sse_events
from tests.secretlog import SecretLog

HOLDER = {
    "full_name": "泄露测试居民",
    "residence_address": "杭州市西湖区泄露测试路77号",
    "evidence_ref": "EV-LEAK-9931",
}


@pytest.fixture
def real(office: EphemeralOffice) -> Iterator[TestClient]:
    """The app over the office's real client register."""
    with TestClient(create_app(office, now=lambda: NOW), raise_server_exceptions=False) as made:
        yield made


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_whole_flow_at_debug_logs_no_secret_and_no_personal_data(
    real: TestClient, office: EphemeralOffice, secret_log: SecretLog
) -> None:
    """Clients created through the API, an application, an issuance (PIN letter), the
    counter, a bank's challenge and presentation, the status route, a revocation, the
    counter and the bank again, the audit log read: every log record (every logger, level
    1, tracebacks included) searched for the keys, PIN, PUK, nonces and the holder's data."""
    admin = office.create_client("root", "admin", NOW, actor="bootstrap").key
    keys = {}
    for role in ("officer", "clerk", "relying_party", "auditor"):
        body = {"name": f"{role} 1", "role": role}
        if role == "relying_party":
            body["scope"] = ["full_name", "residence_address"]
        made = real.post("/v1/clients", json=body, headers=_bearer(admin))
        assert made.status_code == 201, made.text
        keys[role] = made.json()["key"]
    application = dataclasses.replace(synthetic_application(NOW, seed=11), **HOLDER)
    document = json.dumps(application.to_json())
    for kind, value in (
        *HOLDER.items(),
        ("citizen_id", application.citizen_id),
        ("birth_date", application.birth_date.isoformat()),
    ):
        secret_log.secret(kind, value)
    officer, clerk, bank = (_bearer(keys[r]) for r in ("officer", "clerk", "relying_party"))
    json_type = {"Content-Type": "application/json"}

    decision = real.post("/v1/applications", content=document, headers={**officer, **json_type})
    assert decision.status_code == 201 and decision.json()["approved"], decision.text
    reader = insert_blank(office)
    stream = real.post(
        f"/v1/readers/{quote(reader)}/issuance",
        params={"application_id": decision.json()["application_id"]},
        content=document,
        headers={**officer, **json_type},
    )
    kind, issued = sse_events(stream.text)[-1]
    assert kind == "result", issued
    number = issued["permit_number"]
    secret_log.secret("pin_letter_pin", issued["pin_letter"]["pin"])
    secret_log.secret("pin_letter_puk", issued["pin_letter"]["puk"])

    counter = real.post(f"/v1/readers/{quote(reader)}/verification", headers=clerk).json()
    assert counter["verdict"] == "VALID" and counter["clerk"]["full_name"] == HOLDER["full_name"]
    for _ in range(2):
        nonce = real.post("/v1/challenges", headers=bank).json()["nonce"]
        secret_log.secret("nonce", nonce)
        body = office.present_card(reader, nonce, ["full_name", "residence_address"]).to_json()
        answer = real.post("/v1/verifications", json=body, headers=bank).json()
        assert answer["elements"]["full_name"] == HOLDER["full_name"]
        real.post("/v1/verifications", json=body, headers=bank)  # the replay
        assert real.get(f"/v1/permits/{number}/status", headers=bank).status_code == 200
        if answer["verdict"] == "VALID":
            revoked = real.post(
                f"/v1/permits/{number}/revocation", json={"reason": "stolen"}, headers=officer
            )
            assert revoked.status_code == 200, revoked.text
    real.post(f"/v1/readers/{quote(reader)}/verification", headers=clerk)
    audit = real.get("/v1/audit/entries", headers=_bearer(keys["auditor"]))
    assert audit.status_code == 200
    # failures too: a bad application naming the holder, a wrong key, an unknown permit
    broken = json.loads(document)
    broken["applicant"]["birth_date"] = "not " + application.citizen_id
    real.post("/v1/applications", json=broken, headers=officer)
    real.get(f"/v1/permits/{number}", headers=_bearer(keys["officer"] + "x"))
    secret_log.secret("api_key_variant", keys["officer"] + "x")
    real.get("/v1/permits/3301062026999999X", headers=officer)
    secret_log.assert_clean(
        require=["api_key", "api_key_secret", "pin", "puk", "nonce", "citizen_id"],
        min_records=20,
    )


@pytest.mark.parametrize(
    ("method", "path", "role", "body"),
    [
        ("POST", "/v1/clients", Role.ADMIN, {"name": "110101198003130745\u202e", "role": "clerk"}),
        ("POST", "/v1/clients", Role.ADMIN, {"name": "x", "role": "张三110101198003130745"}),
        (
            "POST",
            "/v1/clients",
            Role.ADMIN,
            {"name": "x", "role": "relying_party", "scope": ["张三110101198003130745"]},
        ),
        (
            "POST",
            "/v1/verifications",
            Role.RELYING_PARTY,
            {
                "format": "permit-presentation/1",
                "nonce": "张三110101198003130745",
                "record": "AAAA",
                "card_signature": "AAAA",
            },
        ),
        (
            "POST",
            "/v1/verifications",
            Role.RELYING_PARTY,
            {
                "format": "张三110101198003130745",
                "nonce": "A",
                "record": "A",
                "card_signature": "A",
            },
        ),
        (
            "POST",
            "/v1/permits/3301062026999999X/revocation",
            Role.OFFICER,
            {"reason": "张三110101198003130745"},
        ),
        ("GET", "/v1/permits/张三110101198003130745", Role.OFFICER, None),
        ("GET", "/v1/permits/张三110101198003130745/status", Role.RELYING_PARTY, None),
        (
            "GET",
            "/v1/readers/events?reader=%E5%BC%A0%E4%B8%89110101198003130745%0A",
            Role.CLERK,
            None,
        ),
        ("GET", "/v1/audit/entries?after=110101198003130745", Role.AUDITOR, None),
    ],
)
def test_problems_never_echo_what_was_sent(
    client: TestClient, method: str, path: str, role: Role, body: object
) -> None:
    response = client.request(method, path, json=body, headers=auth(role))
    assert 400 <= response.status_code < 500, response.text
    everything = response.text + json.dumps(dict(response.headers), ensure_ascii=False)
    for needle in ("110101198003130745", "张三", KEYS[role]):
        assert needle not in everything, (path, response.text)


# -- metrics -------------------------------------------------------------------------------


def test_metrics_carry_templates_and_known_methods_only(
    app: FastAPI, client: TestClient, office: EphemeralOffice
) -> None:
    """Raw paths in labels would leak permit numbers and reader names and let any client
    grow the label set without bound; so would methods a client makes up."""
    reader = insert_blank(office)
    number = office.issue(synthetic_application(NOW, seed=12), reader, NOW).permit_number
    officer, clerk = auth(Role.OFFICER), auth(Role.CLERK)
    client.get(f"/v1/permits/{number}", headers=officer)
    client.get(f"/v1/permits/{number}/status", headers=clerk)
    client.post(f"/v1/readers/{quote(reader)}/verification", headers=clerk)
    client.get(f"/v1/permits/{number}/no-such-thing", headers=officer)
    client.get(f"/v1/permits/{number}")  # 401 before routing
    for index in range(5):
        raw_request(app, f"ZZMETHOD{index}", f"/v1/permits/{number}", headers=[])
        raw_request(app, f"ZZMETHOD{index}", "/healthz")
    text = client.get("/metrics").text
    labels = set(re.findall(r'(\w+)="([^"]*)"', text))
    assert number not in text and reader not in text and "client-" not in text
    assert "ZZMETHOD" not in text
    routes = {value for name, value in labels if name == "route"}
    assert "/v1/permits/{number}" in routes and "/v1/readers/{reader}/verification" in routes
    assert all(r.startswith("/") or r == "<unmatched>" for r in routes), routes
    methods = {value for name, value in labels if name == "method"}
    assert methods <= {"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE", "other"}
    assert "other" in methods


# -- request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "incoming",
    [
        b"abc\r\nSet-Cookie: x=1",
        b"abcdefgh\r\n\r\nHTTP/1.1 200 OK",
        b"abcdefgh\nforged log line",
        b"A" * 100_000,
        "请求编号请求编号".encode(),
        b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8",
        b"short",
        b"",
        b"abcdefgh ijk",
        b"../../../../etc",
        b"abcdefgh%0d%0aX",
    ],
)
def test_a_bad_request_id_is_replaced_and_never_logged(
    app: FastAPI, incoming: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for path, headers in (
        ("/v1/permits/3301062026999999X", [(b"authorization", b"Bearer wrong")]),
        (
            "/v1/permits/3301062026999999X",
            [(b"authorization", f"Bearer {KEYS[Role.OFFICER]}".encode())],
        ),
        ("/healthz", []),
    ):
        response = raw_request(app, "GET", path, headers=[*headers, (b"x-request-id", incoming)])
        ids = response.header(b"x-request-id")
        assert len(ids) == 1 and re.fullmatch(rb"[0-9a-f]{32}", ids[0]), ids
        assert incoming not in response.body or not incoming
        if response.status >= 400:
            assert json.loads(response.body)["instance"] == f"urn:request:{ids[0].decode()}"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    if len(incoming) >= 5:
        assert incoming.decode("latin-1") not in logged
        assert "forged log line" not in logged and "Set-Cookie" not in logged


def test_a_good_request_id_is_kept_once(app: FastAPI) -> None:
    good = b"trace-0123456789:abc"
    response = raw_request(
        app, "GET", "/healthz", headers=[(b"x-request-id", good), (b"x-request-id", b"other-one-1")]
    )
    assert response.header(b"x-request-id") == [good]


# -- unexpected failures -------------------------------------------------------------------

#: What a bug's exception text might carry: a failing row, a URL with its password.
EXCEPTION_TEXT = "Failing row contains (张三, 110101198003130745) redis://:hunter2pw@cache"


def _register_exception_text(secret_log: SecretLog) -> None:
    for value in ("110101198003130745", "张三", "hunter2pw"):
        secret_log.secret("exception_text", value)


def test_a_bug_s_exception_text_never_reaches_a_log(
    client: TestClient,
    office: EphemeralOffice,
    monkeypatch: pytest.MonkeyPatch,
    secret_log: SecretLog,
) -> None:
    """A 500 is logged with the request id, the route and the stack - not the exception's
    message (nor its cause's): the generic 500 answered, the text withheld."""
    _register_exception_text(secret_log)

    def broken(*args: object, **kwargs: object) -> None:
        try:
            raise KeyError(EXCEPTION_TEXT)
        except KeyError as exc:
            raise ValueError(EXCEPTION_TEXT) from exc

    monkeypatch.setattr(office, "permit_history", broken)
    response = client.get("/v1/permits/3301062026999999X", headers=auth(Role.OFFICER))
    body = json.loads(response.text)
    assert response.status_code == 500 and body["code"] == "internal_error"
    assert "110101198003130745" not in response.text
    # an issuance that fails unexpectedly inside its stream: the same
    monkeypatch.setattr(office, "issue", broken)
    reader = insert_blank(office)
    stream = client.post(
        f"/v1/readers/{quote(reader)}/issuance",
        content=json.dumps(synthetic_application(NOW, seed=13).to_json()),
        headers={**auth(Role.OFFICER), "Content-Type": "application/json"},
    )
    kind, problem = sse_events(stream.text)[-1]
    assert kind == "error" and problem["code"] == "internal_error"
    text = secret_log.text()
    assert "ValueError" in text and "KeyError" in text and "withheld" in text
    assert body["instance"].rsplit(":", 1)[1] in text
    secret_log.assert_clean(require=["exception_text"], min_records=2)


def test_driver_failures_are_logged_without_their_text(
    office: EphemeralOffice, secret_log: SecretLog
) -> None:
    """The register's and the shared store's failures are logged at debug with their
    stack; the driver's text (a failing row, a URL) never."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import OperationalError

    from card_service.shared_state.redis_backend import _unavailable

    _register_exception_text(secret_log)
    with pytest.raises(Exception, match="cannot"):
        with office.database("cannot read the register ({name})"):
            raise OperationalError("SELECT 1", {}, Exception(EXCEPTION_TEXT))
    failure = _unavailable(RedisConnectionError(EXCEPTION_TEXT))
    assert "hunter2pw" not in str(failure)
    assert "OperationalError" in secret_log.text() and "ConnectionError" in secret_log.text()
    secret_log.assert_clean(require=["exception_text"], min_records=2)


# -- caches --------------------------------------------------------------------------------


def test_keyed_answers_are_never_cached(app: FastAPI, client: TestClient) -> None:
    """A counter's answer carries a name and a portrait, a relying party's the disclosed
    elements, an administrator's a key: no shared or browser cache may keep any keyed
    answer (admitted, refused or failed); public material keeps its own policy."""
    from tests.http.test_roles import _concrete, _routes

    for method, template, roles in _routes(app):
        path = _concrete(template)
        admitted = next(r for r in Role if r.value in roles)
        for headers in ({}, auth(admitted), auth(next(r for r in Role if r.value not in roles))):
            response = client.request(method, path, json={}, headers=headers)
            assert response.headers.get("cache-control") == "no-store", (method, path, headers)
            assert response.headers["x-content-type-options"] == "nosniff"
    listed = client.get("/v1/status-list")
    assert listed.status_code == 200 and listed.headers["cache-control"].startswith("public")
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"
