"""``permit record sample`` and ``verify`` through their own argparse harness."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest

from api.cli import describe, exit_code
from api.cli import record as record_cli
from card_service.record import present
from permit_errors import PermitError

PASSPHRASE = "correct horse battery staple 7"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="permit")
    sub = parser.add_subparsers(dest="command", required=True)
    record_cli.register(sub)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except PermitError as exc:  # mapped as api.cli.main maps it
        print(f"permit: {describe(exc)}")
        return exit_code(exc)
    return code


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os

    for name in list(os.environ):
        if name.startswith(("PERMIT_KEY", "PERMIT_PKCS11")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PERMIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", PASSPHRASE)
    return tmp_path


def init_keys() -> None:
    from keys.pki import KeyManager

    with KeyManager() as manager:
        manager.init(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))


def test_sample_without_keys_fails_clearly(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["record", "sample", "--out", str(home / "r.cbor")]) == 1
    assert "permit keys init" in capsys.readouterr().out
    assert not (home / "r.cbor").exists()


def test_sample_and_verify(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init_keys()
    out = home / "record.cbor"
    assert run(["record", "sample", "--out", str(out), "--seed", "4"]) == 0
    assert "ds-0001" in capsys.readouterr().out
    assert 10_000 < out.stat().st_size <= 32768

    # with the local keys as trust
    assert run(["record", "verify", str(out)]) == 0
    assert capsys.readouterr().out.startswith("VALID")

    # with an exported trust directory, as a bank would
    from keys.pki import KeyManager

    with KeyManager() as manager:
        manager.export_trust(home / "trust", dt.datetime.now(dt.UTC))
    assert run(["record", "verify", str(out), "--trust", str(home / "trust"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "VALID" and report["reasons"] == []
    assert "citizen_id" in report["disclosed_elements"]

    shown = home / "merchant.cbor"
    shown.write_bytes(present(out.read_bytes(), ["residence_began"]))
    assert run(["record", "verify", str(shown), "--trust", str(home / "trust")]) == 0
    capsys.readouterr()

    tampered = home / "tampered.cbor"
    data = bytearray(out.read_bytes())
    data[-3] ^= 0x01
    tampered.write_bytes(bytes(data))
    assert run(["record", "verify", str(tampered), "--trust", str(home / "trust")]) == 1
    text = capsys.readouterr().out
    assert text.split()[0] in ("FORGED", "MALFORMED")

    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)).isoformat()
    code = run(["record", "verify", str(out), "--trust", str(home / "trust"), "--now", later])
    assert code == 1


def test_verify_errors(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["record", "verify", str(home / "missing.cbor"), "--trust", str(home)]) == 1
    assert "permit:" in capsys.readouterr().out
    (home / "garbage.cbor").write_bytes(b"\x00\x01")
    assert run(["record", "verify", str(home / "garbage.cbor")]) == 1  # no local keys
    with pytest.raises(SystemExit):
        run(["record", "verify", "x", "--now", "2026-01-01T00:00:00"])  # naive time
