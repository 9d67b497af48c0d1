"""``permit trust fetch``: bad downloads are refused with one line and nothing is written.

The good documents are the real app's (``/v1/trust`` and ``/v1/status-list`` of an issuing
office); each case serves them, or a broken variant, through httpx's mock transport: not 200,
a redirect, the wrong media type, not a bundle, a tampered file, a certificate or a list
signer from another root, a bad list signature, an expired list, a huge body (declared or
streamed), a connection failure, a pinned root that does not match; and a directory or
member that is a link."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from api.cli import main
from api.cli import trust as trust_cli
from api.http import create_app
from card_service.office import EphemeralOffice, ephemeral_office
from card_service.record.ephemeral_pki import EphemeralPki
from card_service.status import build_status_list
from tests.dbfixtures import NOW
from tests.http.conftest import PKI, fake_authenticate
from tests.http.offline import Clock, bank_office, publish_trust

TRUST = "/v1/trust"
LIST = "/v1/status-list"
JSON = {"content-type": "application/json"}
CWT = {"content-type": "application/statuslist+cwt"}
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW + dt.timedelta(minutes=1))


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[EphemeralOffice]:
    with ephemeral_office(NOW, pki=PKI) as made:
        publish_trust(made, monkeypatch)
        yield made


@pytest.fixture
def real(issuer: EphemeralOffice, clock: Clock) -> dict[str, bytes]:
    """The app's own answers."""
    with TestClient(create_app(issuer, authenticate=fake_authenticate, now=clock)) as http:
        trust, status = http.get(TRUST), http.get(LIST)
    assert trust.status_code == status.status_code == 200
    return {TRUST: trust.content, LIST: status.content}


def serving(monkeypatch: pytest.MonkeyPatch, handler: Handler) -> None:
    monkeypatch.setattr(
        trust_cli,
        "http_client",
        lambda: httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=False),
    )


def documents(
    real: dict[str, bytes], *, trust: bytes | None = None, status: bytes | None = None
) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TRUST:
            return httpx.Response(200, headers=JSON, content=trust or real[TRUST])
        if request.url.path == LIST:
            return httpx.Response(200, headers=CWT, content=status or real[LIST])
        return httpx.Response(404)

    return handler


@pytest.fixture
def bank(
    issuer: EphemeralOffice, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    bank_office(monkeypatch, tmp_path / "bank", issuer, clock)
    return tmp_path / "trust"


def refused(target: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code = main(["trust", "fetch", "http://permit.test", str(target), *extra])
    captured = capsys.readouterr()
    assert code == 1, (captured.out, captured.err)
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("permit: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def _bundle(real: dict[str, bytes]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(real[TRUST])
    return document


def _reseal(document: dict[str, Any], name: str, pem: str) -> bytes:
    """``document`` with file ``name`` replaced by ``pem`` and the manifest's digest fixed."""
    document["files"][name] = pem
    digest = hashlib.sha256(pem.encode()).hexdigest()
    manifest = document["manifest"]
    for entry in [*manifest["roots"], *manifest["signers"], manifest["crl"]]:
        if entry["file"] == name:
            entry["sha256"] = digest
    return json.dumps(document).encode()


OTHER = EphemeralPki.create(NOW - dt.timedelta(days=30))


def test_the_real_documents_are_accepted(
    real: dict[str, bytes], bank: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    serving(monkeypatch, documents(real))
    root = PKI.root_certificate.public_bytes(Encoding.DER)
    pin = hashlib.sha256(root).hexdigest().upper()
    assert main(["trust", "fetch", "http://permit.test/", str(bank), "--expect-root", pin]) == 0
    assert (bank / "status-list.cwt").read_bytes() == real[LIST]
    assert pin.lower() in capsys.readouterr().out


def _not_ok(status: int, path: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == path:
            return httpx.Response(status, headers={"location": "http://evil.test/"})
        return httpx.Response(200, headers=JSON, content=b"{}")

    return handler


def _huge_stream(path: str, size: int, declared: bool) -> Callable[[dict[str, bytes]], Handler]:
    def make(real: dict[str, bytes]) -> Handler:
        def handler(request: httpx.Request) -> httpx.Response:
            headers = dict(JSON if path == TRUST else CWT)
            if request.url.path != path:
                return documents(real)(request)
            if declared:
                headers["content-length"] = str(size)
                return httpx.Response(200, headers=headers, content=b"")

            def chunks() -> Iterator[bytes]:
                block = b"\0" * (1024 * 1024)
                for _ in range(size // len(block)):
                    yield block

            return httpx.Response(200, headers=headers, content=chunks())

        return handler

    return make


def _connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def _tampered(real: dict[str, bytes]) -> Handler:
    document = _bundle(real)
    name = document["manifest"]["signers"][0]["file"]
    document["files"][name] = document["files"][name].replace("A", "B", 1)
    return documents(real, trust=json.dumps(document).encode())


def _foreign_signer(real: dict[str, bytes]) -> Handler:
    document = _bundle(real)
    name = document["manifest"]["signers"][0]["file"]
    pem = OTHER.new_signer(NOW - dt.timedelta(days=1)).certificate.public_bytes(Encoding.PEM)
    return documents(real, trust=_reseal(document, name, pem.decode()))


def _foreign_root(real: dict[str, bytes]) -> Handler:
    document = _bundle(real)
    name = document["manifest"]["roots"][0]["file"]
    pem = OTHER.root_certificate.public_bytes(Encoding.PEM).decode()
    return documents(real, trust=_reseal(document, name, pem))


def _bad_signature(real: dict[str, bytes]) -> Handler:
    token = real[LIST]
    return documents(real, status=token[:-1] + bytes([token[-1] ^ 0x01]))


def _foreign_list(real: dict[str, bytes]) -> Handler:
    signer = OTHER.new_status_signer(NOW - dt.timedelta(days=1))
    token = build_status_list({}, 16, "urn:permit:status-list", signer, NOW, 300)
    return documents(real, status=token)


CASES: list[tuple[str, Callable[[dict[str, bytes]], Handler], str]] = [
    ("trust 503", lambda r: _not_ok(503, TRUST), "GET /v1/trust answered HTTP 503"),
    ("list 404", lambda r: _not_ok(404, LIST), "GET /v1/status-list answered HTTP 404"),
    ("redirect", lambda r: _not_ok(302, TRUST), "answered HTTP 302"),
    ("connection", lambda r: _connect_error, "failed: ConnectError"),
    ("list media", lambda r: lambda q: httpx.Response(200, headers=JSON, content=r[LIST]),
     "GET /v1/status-list is not application/statuslist+cwt"),
    ("not json", lambda r: documents(r, trust=b"<html>"), "not JSON"),
    ("not a bundle", lambda r: documents(r, trust=b"[1, 2]"), "not a permit-trust-bundle-v1"),
    ("bad file name", lambda r: documents(r, trust=json.dumps(
        {**_bundle(r), "files": {"../x.pem": "x"}}).encode()), "not a plain name"),
    ("tampered file", _tampered, "trust data refused"),
    ("signer of another root", _foreign_signer, "not issued by its root"),
    ("another root", _foreign_root, "trust data refused"),
    ("list not a list", lambda r: documents(r, status=b"not a list"),
     "status list refused: malformed"),
    ("bad list signature", _bad_signature, "status list refused: bad_signature"),
    ("list of another root", _foreign_list, "status list refused: untrusted_signer"),
    ("huge trust, declared", _huge_stream(TRUST, 10**9, True), "larger than"),
    ("huge trust, streamed", _huge_stream(TRUST, 6 * 2**20, False), "larger than"),
    ("huge list, declared", _huge_stream(LIST, 10**9, True), "larger than"),
    ("huge list, streamed", _huge_stream(LIST, 33 * 2**20, False), "larger than"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_download_writes_nothing(
    case: str,
    make: Callable[[dict[str, bytes]], Handler],
    says: str,
    real: dict[str, bytes],
    bank: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serving(monkeypatch, make(real))
    line = refused(bank, capsys)
    assert says in line, line
    assert not bank.exists()


def test_an_expired_list_is_refused(
    real: dict[str, bytes], bank: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    serving(monkeypatch, documents(real))
    clock.advance(dt.timedelta(days=2))  # the commands' clock: the list lives 24 h
    assert "status list refused: expired" in refused(bank, capsys)
    assert not bank.exists()


def test_a_pinned_root_must_match(
    real: dict[str, bytes], bank: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    serving(monkeypatch, documents(real))
    wrong = hashlib.sha256(OTHER.root_certificate.public_bytes(Encoding.DER)).hexdigest()
    assert "expected fingerprint" in refused(bank, capsys, "--expect-root", wrong)
    assert main(["trust", "fetch", "http://x", str(bank), "--expect-root", "12ab"]) == 2
    assert not bank.exists()


def test_bad_urls_are_usage_errors(bank: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for url in ("ftp://permit.test", "permit.test", "http://user:pw@permit.test", "http://"):
        assert main(["trust", "fetch", url, str(bank)]) == 2
        assert "pw" not in capsys.readouterr().err
    assert not bank.exists()


def test_a_refetch_that_fails_keeps_the_old_files(
    real: dict[str, bytes], bank: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    serving(monkeypatch, documents(real))
    assert main(["trust", "fetch", "http://permit.test", str(bank)]) == 0
    before = {name: (bank / name).read_bytes() for name in os.listdir(bank)}
    serving(monkeypatch, _bad_signature(real))
    refused(bank, capsys)
    assert {name: (bank / name).read_bytes() for name in os.listdir(bank)} == before


def test_links_are_never_followed(
    real: dict[str, bytes], bank: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    serving(monkeypatch, documents(real))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bank.symlink_to(elsewhere)  # the directory itself is a link
    assert "refusing" in refused(bank, capsys)
    assert os.listdir(elsewhere) == []
    bank.unlink()
    bank.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (bank / "manifest.json").symlink_to(victim)  # a member is a link
    assert "refusing" in refused(bank, capsys)
    assert victim.read_text() == "keep me"
    assert sorted(os.listdir(bank)) == ["manifest.json"]
