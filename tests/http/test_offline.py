"""Offline verification end to end: the real app under uvicorn on a loopback port, ``permit
trust fetch`` downloading and checking ``/v1/trust`` and ``/v1/status-list``, and ``permit
verify --trust DIR --status-list FILE`` on a bank's machine with no key store and no
register: VALID, REVOKED after a fresh list, STATUS_UNKNOWN with an expired one; and every
bad download refused with one line, nothing written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from api.http import create_app
from card_service.office import EphemeralOffice, Settings, ephemeral_office
from card_service.record.cose import parse_sign1
from card_service.record.mso import parse_mso
from card_service.record.record_parser import decode_record
from card_service.status.verify import Verdict, check_status
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.http.conftest import PKI, fake_authenticate, insert_blank
from tests.http.offline import Clock, bank_office, publish_trust, serve
from tests.http.test_status_list import _index_of

URI = "https://permits.example.gov.cn/v1/status-list"
READER = "Permit Sim Reader {}"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW + dt.timedelta(minutes=1))


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[EphemeralOffice]:
    settings = Settings(status_list_uri=URI)
    with ephemeral_office(NOW, pki=PKI, settings=settings) as made:
        publish_trust(made, monkeypatch)
        yield made


@pytest.fixture
def issued(issuer: EphemeralOffice) -> tuple[str, str]:
    numbers = []
    for slot, seed in ((0, 41), (1, 42)):
        reader = insert_blank(issuer, slot)
        result = issuer.issue(synthetic_application(NOW, seed=seed), reader, NOW)
        numbers.append(result.permit_number)
    return numbers[0], numbers[1]


@pytest.fixture
def url(issuer: EphemeralOffice, clock: Clock) -> Iterator[str]:
    with serve(create_app(issuer, authenticate=fake_authenticate, now=clock)) as base:
        yield base


def card_record(issuer: EphemeralOffice, slot: int) -> bytes:
    """EF.Record of the card in ``slot`` as the simulator holds it (read through the office)."""
    from card_service.card.wire import FileId

    with issuer.cards.session(READER.format(slot), exclusive=False) as session:
        session.select()
        return session.read_file(FileId.RECORD)


def verify(reader: str, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = main(["verify", "--reader", reader, "--json", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, json.loads(captured.out)


def test_every_record_carries_its_row_id_and_the_office_uri(
    issuer: EphemeralOffice, issued: tuple[str, str]
) -> None:
    for slot, number in enumerate(issued):
        info = parse_mso(parse_sign1(decode_record(card_record(issuer, slot)).issuer_auth).payload)
        assert info.version == "2.0"
        assert info.status is not None
        assert (info.status.idx, info.status.uri) == (_index_of(issuer, number), URI)


def test_a_bank_verifies_offline_with_two_downloads(
    issuer: EphemeralOffice,
    issued: tuple[str, str],
    url: str,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bank_home = tmp_path / "bank-home"
    bank_office(monkeypatch, bank_home, issuer, clock)
    trust = tmp_path / "trust"
    assert main(["trust", "fetch", url, str(trust), "--json"]) == 0, capsys.readouterr().err
    fetched = json.loads(capsys.readouterr().out)
    assert fetched["status_list"]["uri"] == URI
    assert stat.S_IMODE(os.lstat(trust).st_mode) == 0o700
    names = sorted(os.listdir(trust))
    assert {"manifest.json", "status-list.cwt", "crl.pem"} <= set(names)
    for name in names:
        assert stat.S_IMODE(os.lstat(trust / name).st_mode) == 0o600, name
    status_list = str(trust / "status-list.cwt")

    _, revoked = issued
    code, report = verify(READER.format(0), "--trust", str(trust), "--status-list", status_list,
                          capsys=capsys)  # fmt: skip
    assert (code, report["verdict"]) == (0, "VALID"), report
    assert report["status_list"]["uri"] == URI and report["record"]["record_format"] == 2

    issuer.revoke(revoked, "stolen", clock())
    # the old list still says valid: offline, a revocation arrives with a fresh list only
    code, report = verify(READER.format(1), "--trust", str(trust), "--status-list", status_list,
                          capsys=capsys)  # fmt: skip
    assert (code, report["verdict"]) == (0, "VALID")
    clock.advance(dt.timedelta(seconds=31))  # the service rebuilds its list every 30 s
    assert main(["trust", "fetch", url, str(trust)]) == 0
    assert "root SHA-256" in capsys.readouterr().out
    code, report = verify(READER.format(1), "--trust", str(trust), "--status-list", status_list,
                          capsys=capsys)  # fmt: skip
    assert (code, report["verdict"]) == (1, "REVOKED")
    assert [r["code"] for r in report["record"]["reasons"]] == ["status_revoked"]
    code, report = verify(READER.format(0), "--trust", str(trust), "--status-list", status_list,
                          capsys=capsys)  # fmt: skip
    assert (code, report["verdict"]) == (0, "VALID")

    # a day later the list has expired: status unknown, not valid, not revoked
    clock.advance(dt.timedelta(hours=25))
    code, report = verify(READER.format(0), "--trust", str(trust), "--status-list", status_list,
                          capsys=capsys)  # fmt: skip
    assert (code, report["verdict"]) == (3, "STATUS_UNKNOWN"), report
    assert [r["code"] for r in report["record"]["reasons"]] == ["status_unknown_expired"]
    # no list at all: unknown too
    code, report = verify(READER.format(0), "--trust", str(trust), capsys=capsys)
    assert (code, report["verdict"]) == (3, "STATUS_UNKNOWN")
    assert report["status_list_problem"] == "no_list"
    # the bank's machine never had a key store or a register
    assert not bank_home.exists()


def test_a_list_for_another_uri_says_nothing_of_the_records(
    issuer: EphemeralOffice,
    issued: tuple[str, str],
    url: str,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The records name ``URI`` (``PERMIT_STATUS_LIST_URI`` when they were issued); the
    operator then changes it: the list the office serves has another ``sub``, and says
    nothing of the cards already out - STATUS_UNKNOWN ``wrong_uri``, for the revoked permit
    too (never VALID, never REVOKED).  Hence: set it to the list's public URL before the
    first issuance, and keep it."""
    bank_office(monkeypatch, tmp_path / "bank", issuer, clock)
    _, revoked = issued
    issuer.revoke(revoked, "stolen", clock())
    monkeypatch.setattr(issuer, "settings", dataclasses.replace(issuer.settings,
                        status_list_uri="https://elsewhere.example/v1/status-list"))  # fmt: skip
    clock.advance(dt.timedelta(seconds=31))  # the service rebuilds its list every 30 s
    trust = tmp_path / "trust"
    assert main(["trust", "fetch", url, str(trust), "--json"]) == 0, capsys.readouterr().err
    fetched = json.loads(capsys.readouterr().out)
    assert fetched["status_list"]["uri"] == "https://elsewhere.example/v1/status-list"
    status_list = str(trust / "status-list.cwt")
    for slot in (0, 1):
        code, report = verify(READER.format(slot), "--trust", str(trust),
                              "--status-list", status_list, capsys=capsys)  # fmt: skip
        assert (code, report["verdict"]) == (3, "STATUS_UNKNOWN"), report
        assert [r["code"] for r in report["record"]["reasons"]] == ["status_unknown_wrong_uri"]


def test_verify_offline_text_output(
    issuer: EphemeralOffice,
    issued: tuple[str, str],
    url: str,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bank_office(monkeypatch, tmp_path / "bank", issuer, clock)
    trust = tmp_path / "trust"
    assert main(["trust", "fetch", url, str(trust)]) == 0
    capsys.readouterr()
    garbage = tmp_path / "garbage.cwt"
    garbage.write_bytes(b"\xa0")
    code = main(["verify", "--reader", READER.format(0), "--trust", str(trust),
                 "--status-list", str(garbage)])  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert code == 3 and out[0] == "STATUS_UNKNOWN"
    assert any(line.startswith("  status_unknown_malformed") for line in out)
    assert out[-1] == "no usable status list (malformed)"
    code = main(["verify", "--reader", READER.format(0), "--trust", str(trust),
                 "--status-list", str(trust / "status-list.cwt")])  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and out[0] == "VALID" and out[-1].startswith("status list issued ")


def test_a_replacement_gets_its_own_index(issuer: EphemeralOffice, issued: tuple[str, str]) -> None:
    kept, _ = issued
    old_index = _index_of(issuer, kept)
    issuer.station.driver.remove(0)  # type: ignore[attr-defined]
    reader = insert_blank(issuer, 0)
    result = issuer.replace(kept, "damaged", synthetic_application(NOW, seed=41), reader, NOW)
    new_index = _index_of(issuer, result.permit_number)
    assert new_index != old_index
    info = parse_mso(parse_sign1(decode_record(card_record(issuer, 0)).issuer_auth).payload)
    assert info.status is not None and info.status.idx == new_index
    later = NOW + dt.timedelta(minutes=2)
    token = issuer.status_list(later).token
    trust = issuer.station.pki.trust(later)
    old = check_status(token, trust, index=old_index, now=later, uri=URI)
    new = check_status(token, trust, index=new_index, now=later, uri=URI)
    assert (old.verdict, new.verdict) == (Verdict.INVALID, Verdict.VALID)
