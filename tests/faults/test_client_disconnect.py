"""A client that disconnects mid-request (issue 11, section 5, "Faults"); the issuance stream's
case is tests/http/test_lifecycle.py.

Over a real socket to the service under uvicorn:

* the client closes its connection while a relying-party verification (or a counter
  verification) is inside the office call - held there, just before its audit append, until
  the connection is gone: the operation completes all the same (the audit entry is written,
  the nonce is spent: the same presentation again answers ``replayed``), the audit chain
  verifies;
* the client closes its connection half-way through sending the presentation: nothing is
  done (no audit entry, the nonce unspent: the whole request afterwards is VALID).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from sqlmodel import Session

from api.http import create_app
from card_service.audit.verify import verify_audit_log
from card_service.clients import ApiClient, Role
from card_service.office import AUDIT_PAGE_MAX, EphemeralOffice, ephemeral_office
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.faults.live import SCOPE, actor, authenticate, headers, live_server
from tests.http.conftest import PKI, insert_blank

WAIT = 60.0  # seconds a step may take before the test fails (never a pause)


@pytest.fixture
def served() -> Iterator[tuple[EphemeralOffice, str, str]]:
    """The office with an issued card in its reader, served; (office, base URL, reader)."""
    office = ephemeral_office(NOW, pki=PKI)
    app = create_app(office, authenticate=authenticate, now=lambda: NOW)
    with office, live_server(app) as base:
        reader = insert_blank(office)
        office.issue(synthetic_application(NOW, seed=9), reader, NOW)
        yield office, base, reader


class HeldAudit:
    """The register's audit append of verifications, held until :meth:`release`: the
    request is then inside its office call."""

    def __init__(self, office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.finished = threading.Event()
        register = office.station.register
        # one verification (the counter) and a batch of them (the relying parties)
        for name in ("record_verification", "record_verifications"):
            monkeypatch.setattr(register, name, self._held(getattr(register, name)))

    def _held(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            assert self.released.wait(WAIT)
            try:
                return original(*args, **kwargs)
            finally:
                self.finished.set()

        return held

    def release(self) -> None:
        self.released.set()
        assert self.finished.wait(WAIT), "the operation did not complete"


def _raw_request(base: str, method: str, path: str, hdrs: dict[str, str], body: bytes) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(base).netloc}"]
    head += [f"{k}: {v}" for k, v in hdrs.items()]
    head += [f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(head).encode() + body


def _connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    return socket.create_connection((parts.hostname, parts.port), timeout=WAIT)


def _presentation(office: EphemeralOffice, reader: str, name: str) -> dict[str, str]:
    client = ApiClient(client_id=name, name=name, role=Role.RELYING_PARTY, scope=SCOPE)
    nonce = office.issue_challenge(client, NOW).nonce
    return office.present_card(reader, nonce, ["full_name"]).to_json()


def _results(office: EphemeralOffice, who: str) -> list[str]:
    entries = office.audit_entries(after=0, limit=AUDIT_PAGE_MAX)
    return [e.result for e in entries if e.action == "permit.verify" and e.actor == who]


def _chain_ok(office: EphemeralOffice) -> None:
    with Session(office.engine) as session:
        report = verify_audit_log(session, office.trust_list(), NOW + dt.timedelta(seconds=1))
    assert report.ok, report


def _leave_mid_operation(base: str, request: bytes, held: HeldAudit) -> None:
    """Send ``request``, wait until it is inside the office call, hang up, let it go on."""
    sock = _connect(base)
    try:
        sock.sendall(request)
        assert held.entered.wait(WAIT), "the request never reached its audit append"
    finally:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    held.release()


def test_disconnect_during_a_relying_party_verification(
    served: tuple[EphemeralOffice, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    office, base, reader = served
    body = _presentation(office, reader, "bank")
    held = HeldAudit(office, monkeypatch)
    hdrs = {**headers(Role.RELYING_PARTY, "bank"), "Content-Type": "application/json"}
    request = _raw_request(base, "POST", "/v1/verifications", hdrs, json.dumps(body).encode())
    _leave_mid_operation(base, request, held)
    # completed although nobody was there for the answer: audited, the nonce spent
    assert _results(office, actor(Role.RELYING_PARTY, "bank")) == ["passed"]
    with httpx.Client(base_url=base, timeout=WAIT) as client:
        again = client.post(
            "/v1/verifications", json=body, headers=headers(Role.RELYING_PARTY, "bank")
        )
    assert (again.json()["verdict"], again.json()["challenge"]) == ("INVALID", "replayed")
    assert _results(office, actor(Role.RELYING_PARTY, "bank")) == [
        "passed",
        "failed:challenge_replayed",
    ]
    _chain_ok(office)


def test_disconnect_during_a_counter_verification(
    served: tuple[EphemeralOffice, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    office, base, reader = served
    held = HeldAudit(office, monkeypatch)
    path = f"/v1/readers/{quote(reader)}/verification"
    request = _raw_request(base, "POST", path, headers(Role.CLERK, "desk-1"), b"")
    _leave_mid_operation(base, request, held)
    assert _results(office, actor(Role.CLERK, "desk-1")) == ["passed"]
    # the card's session was closed: the next clerk verifies it at once
    monkeypatch.undo()
    with httpx.Client(base_url=base, timeout=WAIT) as client:
        answer = client.post(path, headers=headers(Role.CLERK, "desk-2"))
    assert answer.status_code == 200 and answer.json()["verdict"] == "VALID"
    _chain_ok(office)


def test_disconnect_while_sending_the_presentation(
    served: tuple[EphemeralOffice, str, str],
) -> None:
    office, base, reader = served
    body = json.dumps(_presentation(office, reader, "shop")).encode()
    hdrs = {**headers(Role.RELYING_PARTY, "shop"), "Content-Type": "application/json"}
    request = _raw_request(base, "POST", "/v1/verifications", hdrs, body)
    sock = _connect(base)
    sock.sendall(request[: len(request) - len(body) // 2])  # headers and half the body
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    with httpx.Client(base_url=base, timeout=WAIT) as client:
        # the service is still there; then the whole request: the nonce was never spent
        assert client.get("/healthz").status_code == 200
        whole = client.post("/v1/verifications", content=body, headers=hdrs)
    assert whole.status_code == 200 and whole.json()["verdict"] == "VALID", whole.text
    assert _results(office, actor(Role.RELYING_PARTY, "shop")) == ["passed"]
    _chain_ok(office)
