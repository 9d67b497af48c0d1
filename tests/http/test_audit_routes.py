"""The audit routes: pages of entries, the verification report (an edited row is found),
the witnessed checkpoints; auditors only."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.http import create_app
from card_service.clients import Role
from card_service.office import AUDIT_PAGE_MAX, EphemeralOffice, Office
from tests.audit.attacks import rewrite_history
from tests.dbfixtures import NOW
from tests.http.conftest import assert_problem, auth, fake_authenticate
from tests.http.keyed import keyed_env, keyed_office

__all__ = ["keyed_env", "keyed_office"]

AUDITOR = auth(Role.AUDITOR)


def _fill(office: Office, count: int) -> None:
    """``count`` audit entries (API client changes need no card or key)."""
    for i in range(count):
        office.create_client(f"client {i}", "clerk", NOW, actor="test")


def test_entries_page_by_page(client: TestClient, office: EphemeralOffice) -> None:
    _fill(office, 7)
    first = client.get("/v1/audit/entries?limit=3", headers=AUDITOR)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [e["seq"] for e in page["entries"]] == [1, 2, 3]
    assert page["next_after"] == 3
    seen = [e["seq"] for e in page["entries"]]
    after = page["next_after"]
    while after is not None:
        page = client.get(f"/v1/audit/entries?after={after}&limit=3", headers=AUDITOR).json()
        seen += [e["seq"] for e in page["entries"]]
        after = page["next_after"]
    assert seen == list(range(1, 8))
    entry = client.get("/v1/audit/entries", headers=AUDITOR).json()["entries"][0]
    assert set(entry) == {
        "seq",
        "time",
        "actor",
        "action",
        "permit_number",
        "result",
        "prev_hash",
        "entry_hash",
    }
    assert entry["action"] == "client.create" and entry["actor"] == "test"


def test_entries_limit_is_bounded(client: TestClient) -> None:
    for query in (f"limit={AUDIT_PAGE_MAX + 1}", "limit=0", "after=-1"):
        assert_problem(client.get(f"/v1/audit/entries?{query}", headers=AUDITOR), 422)
    assert client.get(f"/v1/audit/entries?limit={AUDIT_PAGE_MAX}", headers=AUDITOR).is_success


def test_verification_finds_an_edited_row(client: TestClient, office: EphemeralOffice) -> None:
    _fill(office, 4)
    good = client.post("/v1/audit/verification", headers=AUDITOR)
    assert good.status_code == 200, good.text
    report = good.json()
    assert report["ok"] is True and report["entries_checked"] == 4
    assert report["witness_checked"] is False  # no witness directory yet
    with office.engine.begin() as conn:  # an insider edits one row
        conn.execute(text("UPDATE audit_event SET result = 'invalid' WHERE seq = 2"))
    bad = client.post("/v1/audit/verification", headers=AUDITOR).json()
    assert bad["ok"] is False and bad["status"] == "bad"
    assert bad["first_bad_seq"] == 2


@pytest.fixture
def keyed_client(keyed_office: Office) -> Iterator[TestClient]:
    app = create_app(keyed_office, authenticate=fake_authenticate, now=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as made:
        yield made


def test_checkpoints_are_the_witnessed_ones(keyed_client: TestClient, keyed_office: Office) -> None:
    assert keyed_client.get("/v1/audit/checkpoints", headers=AUDITOR).json() == {
        "checkpoints": [],
        "next_after": None,
    }
    _fill(keyed_office, 3)
    keyed_office.audit_seal(NOW)
    _fill(keyed_office, 2)
    keyed_office.audit_seal(NOW)
    answer = keyed_client.get("/v1/audit/checkpoints", headers=AUDITOR)
    assert answer.status_code == 200, answer.text
    checkpoints = answer.json()["checkpoints"]
    assert [c["seq"] for c in checkpoints] == [3, 5]
    witness = keyed_office.settings.witness_dir()
    for cp in checkpoints:
        stored = (witness / f"checkpoint-{cp['seq']:012d}.json").read_text()
        assert cp["document"] == stored
        assert json.loads(stored)["signature"] == cp["signature"]
    later = keyed_client.get("/v1/audit/checkpoints?after=3", headers=AUDITOR).json()
    assert [c["seq"] for c in later["checkpoints"]] == [5]
    # the verification uses the configured witness now that it exists
    report = keyed_client.post("/v1/audit/verification", headers=AUDITOR).json()
    assert report["ok"] is True and report["witness_checked"] is True
    assert report["witnessed_checkpoints"] == 2 and report["signers_trusted"] is True
    # a rewrite that recomputes every later hash is caught by the signed checkpoints
    rewrite_history(keyed_office.engine, 2, result="client=pc_ffffffffffffffff,role=admin")
    bad = keyed_client.post("/v1/audit/verification", headers=AUDITOR).json()
    assert bad["ok"] is False and bad["status"] == "bad"


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.AUDITOR])
def test_auditors_only(client: TestClient, role: Role) -> None:
    for method, path in (
        ("GET", "/v1/audit/entries"),
        ("POST", "/v1/audit/verification"),
        ("GET", "/v1/audit/checkpoints"),
    ):
        assert_problem(client.request(method, path, headers=auth(role)), 403, "forbidden")
