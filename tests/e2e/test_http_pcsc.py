"""End to end through real HTTP and real PC/SC.

A private pcscd with a vpcd reader holds a simulated blank card; the service runs under
uvicorn on a loopback port over an office on a temporary SQLite register, run-time keys and
the PC/SC driver.  Over HTTP (httpx), with API clients an administrator creates per role:
an application, an issuance with live progress (server-sent events), the counter's
verification, a bank's verification (a challenge, the card's answer and a selective
presentation built by the terminal, ``permit present`` in its own process), the status
route and the signed status list; then a revocation, and every one of those paths says so.

Without pcscd, vpcd or root the test skips, which fails under ``PERMIT_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from api.http import create_app
from card_service.clients import Role
from card_service.office import EphemeralOffice, Sandbox, Settings
from card_service.office.status import REBUILD_AFTER
from card_service.status.verify import Verdict, check_status
from card_service.workflows.application import synthetic_application
from simulators.card import SimulatedCard
from simulators.pcscd_private import PrivatePcscd
from tests.conftest import wait_until
from tests.dbfixtures import NOW
from tests.e2e.live import Clock, LiveServer, sse_stream
from tests.http.test_status_list import _draft_decode, _index_of, _status_at
from tests.secretlog import SecretLog, card_secrets

pytestmark = pytest.mark.pcsc

ROOT = Path(__file__).resolve().parents[2]
#: What the bank may receive, and what it gets on top (always disclosed).
BANK_SCOPE = ("full_name", "expiry_date")
MANDATORY = {"permit_number", "first_endorsement_due"}


@dataclass
class Station:
    """The service and everything around it."""

    office: EphemeralOffice
    clock: Clock
    live: LiveServer
    reader: str
    card: SimulatedCard
    pcscd: PrivatePcscd
    tmp: Path
    log: SecretLog


@pytest.fixture
def station(
    secret_log: SecretLog, private_pcscd: PrivatePcscd, tmp_path: Path
) -> Iterator[Station]:
    from reader_drivers.pcsc import PcscReaderDriver
    from simulators.vpcd import VpcdBridge

    clock = Clock(NOW)
    driver = PcscReaderDriver()
    sandbox = Sandbox.create(f"sqlite:///{tmp_path / 'register.db'}", driver, clock())
    office = EphemeralOffice(sandbox, Settings())
    card = SimulatedCard.manufacture(
        master_keys={sandbox.kvn: sandbox.master_key}, kvn=sandbox.kvn, durable=False
    )
    reader = private_pcscd.reader_names()[0]
    bridge = VpcdBridge(card, port=private_pcscd.port(0)).start()

    def present() -> bool:
        return any(r.name == reader and r.card_present for r in driver.list_readers())

    live = LiveServer(create_app(office, now=clock))
    try:
        wait_until(present, what=f"card present in {reader}")
        live.start()
        yield Station(office, clock, live, reader, card, private_pcscd, tmp_path, secret_log)
    finally:
        live.stop()
        bridge.stop()
        wait_until(lambda: not present(), what=f"card gone from {reader}")
        office.close()
        driver.close()


def _created(http: httpx.Client, name: str, role: Role, scope: tuple[str, ...] = ()) -> str:
    response = http.post("/v1/clients", json={"name": name, "role": role, "scope": list(scope)})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    client = created["client"]
    assert (client["role"], client["scope"], client["status"]) == (role, sorted(scope), "active")
    key: str = created["key"]
    return key


def _present(station: Station, *args: str) -> subprocess.CompletedProcess[str]:
    """``permit present`` in its own process: PC/SC, no key store, no register."""
    terminal = station.tmp / "terminal"
    terminal.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERMIT_")}
    env.update(station.pcscd.env)
    env.update({"PERMIT_READERS": "pcsc", "PERMIT_HOME": str(terminal), "PYTHONPATH": str(ROOT)})
    argv = [sys.executable, "-m", "api.cli", "present", "--reader", station.reader, *args]
    return subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _bank_verifies(station: Station, bank: httpx.Client, key_file: Path) -> dict[str, Any]:
    """A fresh challenge; the terminal has the card sign it and posts its presentation."""
    issued = bank.post("/v1/challenges")
    assert issued.status_code == 201, issued.text
    nonce = issued.json()["nonce"]
    done = _present(
        station,
        *("--challenge", nonce, "--scope", ",".join(BANK_SCOPE)),
        *("--url", station.live.base_url, "--key-file", str(key_file)),
    )
    assert done.stdout, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (0 if answer["verdict"] == "VALID" else 1), done.stderr
    assert answer["challenge"] == "consumed"
    return answer


def _status_list(station: Station, number: str) -> tuple[Verdict, int, int]:
    """The list as served (public: no key), read at ``number``'s index twice: by the
    project's offline verifier (signature, signer under the root, times, ``sub``) and by the
    draft's text alone (tests/http/test_status_list.py); and the list's ``iat``."""
    response = httpx.get(f"{station.live.base_url}/v1/status-list")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/statuslist+cwt"
    now, token = station.clock(), response.content
    index = _index_of(station.office, number)
    trust = station.office.station.pki.trust(now)
    uri = station.office.settings.status_list_uri
    answer = check_status(token, trust, index=index, now=now, uri=uri)
    claims, lst = _draft_decode(token)
    iat = claims[6]
    assert isinstance(iat, int)
    return answer.verdict, _status_at(lst, index), iat


def _counter(clerk: httpx.Client, reader: str) -> dict[str, Any]:
    response = clerk.post(f"/v1/readers/{quote(reader, safe='')}/verification")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_issue_verify_revoke_over_http_and_pcsc(secret_log: SecretLog, station: Station) -> None:
    live, reader = station.live, station.reader
    secret_log.secret("master_key", station.office.station.master_key)
    admin_key = station.office.create_client("e2e admin", Role.ADMIN, station.clock()).key
    with live.client(admin_key) as admin:
        officer = live.client(_created(admin, "issuing desk", Role.OFFICER))
        clerk = live.client(_created(admin, "counter 1", Role.CLERK))
        bank_key = _created(admin, "bank terminal", Role.RELYING_PARTY, BANK_SCOPE)
        auditor = live.client(_created(admin, "auditor", Role.AUDITOR))
    bank = live.client(bank_key)
    key_file = station.tmp / "bank-api-key"
    key_file.write_text(bank_key + "\n")

    # the station's readers, over PC/SC
    listed = {r["name"]: r["card_present"] for r in clerk.get("/v1/readers").json()}
    assert listed[reader] is True

    # an application, then the issuance onto the card in the reader, step by step
    document = synthetic_application(NOW, seed=11).to_json()
    decision = officer.post("/v1/applications", json=document)
    assert decision.status_code == 201, decision.text
    assert decision.json()["approved"] is True
    application_id = decision.json()["application_id"]
    events = []
    with officer.stream(
        "POST",
        f"/v1/readers/{quote(reader, safe='')}/issuance",
        params={"application_id": application_id},
        json=document,
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = list(sse_stream(stream))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "result" and set(kinds[:-1]) == {"progress"}, events[-1]
    started = [data["step"] for kind, data in events if kind == "progress"]
    assert started[0] == "reserve" and "write" in started and started[-1] == "confirm"
    issued = events[-1][1]
    number = issued["permit_number"]
    assert issued["pin_letter"]["pin"] and issued["pin_letter"]["puk"]

    # the counter: the card verified in its reader, with what the clerk looks at
    check = _counter(clerk, reader)
    assert (check["verdict"], check["passed"], check["reasons"]) == ("VALID", True, [])
    view = check["clerk"]
    assert view["permit_number"] == number and view["full_name"]
    assert view["portrait"].startswith("data:image/jpeg;base64,")
    assert view["valid_from"] < view["valid_until"]
    assert view["next_endorsement_due"] and view["years_of_residence"] is not None

    # the bank: a challenge, the card's answer, only the scoped elements
    answer = _bank_verifies(station, bank, key_file)
    assert answer["verdict"] == "VALID" and answer["reasons"] == []
    assert set(answer["elements"]) == set(BANK_SCOPE) | MANDATORY
    assert answer["elements"]["permit_number"] == number
    assert answer["elements"]["full_name"] == view["full_name"]

    # the terminal without --url prints the body; sent twice, the nonce is spent once
    nonce = bank.post("/v1/challenges").json()["nonce"]
    printed = _present(station, "--challenge", nonce, "--scope", "full_name")
    assert printed.returncode == 0, printed.stderr
    body = json.loads(printed.stdout)
    assert bank.post("/v1/verifications", json=body).json()["verdict"] == "VALID"
    replayed = bank.post("/v1/verifications", json=body).json()
    assert (replayed["verdict"], replayed["challenge"]) == ("INVALID", "replayed")
    assert replayed["elements"] == {}
    # an element outside the bank's scope: refused, nothing disclosed (the terminal asks
    # for its own challenge here)
    refused = _present(
        station, "--scope", "portrait", "--url", live.base_url, "--key-file", str(key_file)
    )
    assert refused.returncode == 1 and "presentation_out_of_scope" in refused.stderr
    assert refused.stdout == "" and bank_key not in refused.stderr

    assert bank.get(f"/v1/permits/{number}/status").json() == {"status": "valid"}
    before = _status_list(station, number)
    assert before[:2] == (Verdict.VALID, 0)

    # the officer revokes it
    revoked = officer.post(f"/v1/permits/{number}/revocation", json={"reason": "stolen"})
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["state"], revoked.json()["reason"]) == ("REVOKED", "stolen")
    station.clock.advance(dt.timedelta(seconds=1))  # past the revocation instant

    check = _counter(clerk, reader)
    assert (check["verdict"], check["passed"], check["clerk"]) == ("REVOKED", False, None)
    assert "register_revoked" in check["reasons"]

    answer = _bank_verifies(station, bank, key_file)
    assert answer["verdict"] == "REVOKED"
    assert [r["code"] for r in answer["reasons"]] == ["permit_revoked"]
    assert answer["elements"]["permit_number"] == number

    assert bank.get(f"/v1/permits/{number}/status").json() == {"status": "revoked"}
    history = officer.get(f"/v1/permits/{number}").json()
    assert (history["effective_state"], history["revocation_reason"]) == ("REVOKED", "stolen")

    # the list served is rebuilt from the register once its rebuild interval is over
    station.clock.advance(REBUILD_AFTER)
    after = _status_list(station, number)
    assert after[:2] == (Verdict.INVALID, 1)
    assert after[2] > before[2]

    # every answer above is in the audit log, by the client that asked (no VALID without
    # its entry), and never a personal value
    page = auditor.get("/v1/audit/entries", params={"limit": 500})
    assert page.status_code == 200, page.text
    entries = page.json()["entries"]
    issued_actions = [e["action"] for e in entries if e["permit_number"] == number]
    assert issued_actions[:2] == ["permit.reserve", "permit.issue"]
    trail = [
        (e["actor"].split(":")[1], e["action"], e["permit_number"], e["result"])
        for e in entries
        if e["action"] in ("permit.verify", "permit.revoke")
    ]
    assert trail[:6] == [
        ("clerk", "permit.verify", number, "passed"),
        ("relying_party", "permit.verify", number, "passed"),
        ("relying_party", "permit.verify", number, "passed"),
        ("relying_party", "permit.verify", None, "failed:challenge_replayed"),
        ("relying_party", "permit.verify", None, "refused:out_of_scope"),
        ("officer", "permit.revoke", number, "stolen"),
    ]
    assert [(role, action, about) for role, action, about, _ in trail[6:]] == [
        ("clerk", "permit.verify", number),
        ("relying_party", "permit.verify", number),
    ]
    assert all(result.startswith("failed:") and "revoked" in result for *_, result in trail[6:])
    assert view["full_name"] not in page.text

    # no key, PIN, PUK or card secret in any log line of the service or the terminal
    card_secrets(secret_log, station.card)
    secret_log.assert_clean(require={"api_key", "pin", "puk", "master_key", "s_enc"})

    for http in (officer, clerk, bank, auditor):
        http.close()
