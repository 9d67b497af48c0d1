"""``GET /v1/trust``: public, the export-trust material in one document, cacheable until the
CRL's next update; read without the key store's passphrase; it validates the office's
signed records."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.http import create_app
from api.http.routes.trust import MAX_AGE_CAP
from card_service.office import Office, Settings
from card_service.record.verdict import Verdict
from keys.trust import load_trust_dir
from tests.dbfixtures import NOW
from tests.http.conftest import assert_problem, fake_authenticate
from tests.http.keyed import keyed_env, keyed_office

__all__ = ["keyed_env", "keyed_office"]


def _client(office: Office, now: dt.datetime = NOW) -> TestClient:
    return TestClient(
        create_app(office, authenticate=fake_authenticate, now=lambda: now),
        raise_server_exceptions=False,
    )


@pytest.fixture
def public(keyed_env: dict[str, str], keyed_office: Office) -> Iterator[Office]:
    """An office over the same key directory without the passphrase (a central instance
    that serves public material only)."""
    env = {k: v for k, v in keyed_env.items() if k != "PERMIT_KEY_PASSPHRASE"}
    with Office.from_settings(Settings.from_env(env)) as office:
        yield office


def _write(document: dict[str, object], target: Path) -> Path:
    target.mkdir()
    files = document["files"]
    assert isinstance(files, dict)
    for name, pem in files.items():
        assert "/" not in name and not name.startswith(".")
        (target / name).write_text(pem)
    (target / "manifest.json").write_text(json.dumps(document["manifest"]))
    return target


def test_trust_document_validates_the_offices_records(
    keyed_office: Office, public: Office, tmp_path: Path
) -> None:
    with _client(public) as http:
        response = http.get("/v1/trust")  # no API key, no passphrase
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["format"] == "permit-trust-bundle-v1"
    manifest = document["manifest"]
    assert manifest["format"] == "permit-trust-v1"
    assert manifest["roots"] and manifest["signers"] and manifest["audit_signers"]
    assert manifest["crl"]["file"] == "crl.pem"
    for entry in [*manifest["roots"], *manifest["signers"], *manifest["audit_signers"]]:
        pem = document["files"][entry["file"]].encode()
        assert hashlib.sha256(pem).hexdigest() == entry["sha256"]
    # the same material as `permit keys export-trust`
    exported = tmp_path / "exported"
    keyed_office.export_trust(exported, NOW)
    on_disk = json.loads((exported / "manifest.json").read_text())
    assert {k: v for k, v in on_disk.items() if k != "generated_at"} == {
        k: v for k, v in manifest.items() if k != "generated_at"
    }
    for name, pem in document["files"].items():
        assert (exported / name).read_text() == pem
    # a verifier with only this document accepts a record the office signed
    trust = load_trust_dir(_write(document, tmp_path / "fetched"))
    record = keyed_office.sample_record(tmp_path / "record.cbor", NOW)
    result = keyed_office.verify_record(record.path.read_bytes(), NOW, trust=trust)
    assert result.verdict is Verdict.VALID, result.reasons
    assert len(trust.roots) == len(manifest["roots"])


def test_cache_lifetime_follows_the_crl(keyed_office: Office) -> None:
    with _client(keyed_office) as http:
        fresh = http.get("/v1/trust")
    assert fresh.headers["cache-control"] == f"public, max-age={MAX_AGE_CAP}"
    next_update = dt.datetime.fromisoformat(fresh.json()["manifest"]["crl"]["next_update"])
    with _client(keyed_office, next_update - dt.timedelta(seconds=90)) as http:
        assert http.get("/v1/trust").headers["cache-control"] == "public, max-age=90"
    with _client(keyed_office, next_update + dt.timedelta(days=1)) as http:
        late = http.get("/v1/trust")
    assert late.status_code == 200
    assert late.headers["cache-control"] == "public, max-age=0"


def test_an_office_without_keys_answers_a_problem(client: TestClient) -> None:
    """The ephemeral office has no key store: a problem, never a 500 or an empty list."""
    assert_problem(client.get("/v1/trust"), 422)


def test_openapi_marks_it_public(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/trust"]["get"]
    assert "security" not in operation
