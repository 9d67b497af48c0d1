"""``permit keys ...`` through api.cli.keys.register on a fresh argparse parser."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest

from api.cli import describe, exit_code
from api.cli import keys as keys_cli
from keys.trust import load_trust_dir
from permit_errors import PermitError

from .conftest import tree_digest


def run(argv: list[str]) -> int:
    """What api.cli.main does: parse, call ``func``, one line on a PermitError."""
    parser = argparse.ArgumentParser(prog="permit")
    sub = parser.add_subparsers(dest="command", required=True)
    keys_cli.register(sub)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args))
    except PermitError as exc:  # mapped as api.cli.main maps it
        import sys

        print(f"permit: {describe(exc)}", file=sys.stderr)
        return exit_code(exc)


def test_cli_flow(
    key_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = Path(key_env["PERMIT_HOME"])
    assert run(["keys", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("permit: error: no key registry") and err.count("\n") == 1

    assert run(["keys", "init", "--city", "Shenzhen", "--organisation", "Test Bureau"]) == 0
    out = capsys.readouterr().out
    assert "signer ds-0001" in out and "audit signer audit-0001" in out
    keys_dir = home / "keys"
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    for path in keys_dir.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path

    before = tree_digest(home)
    assert run(["keys", "init"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("permit: error: keys already exist") and err.count("\n") == 1
    assert tree_digest(home) == before

    assert run(["keys", "list", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["store"] == key_env.get("PERMIT_KEY_STORE", "file")
    assert [s["id"] for s in info["signers"]] == ["ds-0001"]
    signer = info["signers"][0]
    assert signer["state"] == "active" and signer["algorithm"] == "ecdsa-p256-sha256"
    assert signer["signing_window_days"] == 90
    assert {"not_before", "not_after", "signing_not_after"} <= signer.keys()
    assert info["roots"][0]["id"] == "root-01"
    assert info["master_keys"] == [
        {
            "kvn": 1,
            "id": "mk-001",
            "algorithm": "aes-128",
            "created": info["master_keys"][0]["created"],
            "state": "active",
        }
    ]
    assert "Shenzhen" in info["policy"]["city"]
    assert signer["role"] == "document-signer"
    [auditor] = info["audit_signers"]
    assert auditor["id"] == "audit-0001" and auditor["role"] == "audit-signer"
    assert auditor["state"] == "active" and auditor["algorithm"] == "ecdsa-p256-sha256"
    assert auditor["signing_window_days"] == 365 == info["policy"]["audit_signing_window_days"]

    assert run(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ds-0001" in listing
    assert any(line.startswith("audit   audit-0001 ") for line in listing.splitlines())

    assert run(["keys", "rotate", "--if-due"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert run(["keys", "rotate"]) == 0
    assert "ds-0002" in capsys.readouterr().out
    assert run(["keys", "rotate", "--master-key"]) == 0
    assert "KVN 2" in capsys.readouterr().out
    assert run(["keys", "rotate", "--audit", "--if-due"]) == 0
    assert "audit signer audit-0001 still in its window" in capsys.readouterr().out
    assert run(["keys", "rotate", "--audit"]) == 0
    assert "new audit signer audit-0002" in capsys.readouterr().out
    assert run(["keys", "rotate", "--audit", "--master-key"]) == 2  # one or the other
    capsys.readouterr()

    assert run(["keys", "revoke-signer", "ds-0001", "--reason", "key-compromise"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert run(["keys", "revoke-signer", "audit-0001", "--reason", "superseded"]) == 0
    assert "revoked audit signer audit-0001 (superseded); CRL 3" in capsys.readouterr().out
    assert run(["keys", "revoke-signer", "ds-0042", "--reason", "superseded"]) == 1
    assert "no document signer or audit signer 'ds-0042'" in capsys.readouterr().err
    assert run(["keys", "revoke-signer", "ds-0002", "--reason", "bored"]) == 2
    capsys.readouterr()

    trust = tmp_path / "trust"
    assert run(["keys", "export-trust", str(trust)]) == 0
    capsys.readouterr()
    manifest = json.loads((trust / "manifest.json").read_text())
    files = {p.name for p in trust.iterdir()}
    assert files == {
        "manifest.json",
        "root-01.pem",
        "crl.pem",
        "signer-ds-0001.pem",
        "signer-ds-0002.pem",
        "signer-audit-0001.pem",
        "signer-audit-0002.pem",
    }
    assert manifest["crl"]["file"] == "crl.pem" and manifest["crl"]["number"] == 3
    assert [s["state"] for s in manifest["signers"]] == ["revoked", "active"]
    assert {s["role"] for s in manifest["signers"]} == {"document-signer"}
    audit = manifest["audit_signers"]
    assert [(s["id"], s["role"], s["state"]) for s in audit] == [
        ("audit-0001", "audit-signer", "revoked"),
        ("audit-0002", "audit-signer", "active"),
    ]
    assert all(len(s["sha256"]) == 64 for s in [*manifest["signers"], *audit])
    for pem in files - {"manifest.json"}:
        text = (trust / pem).read_text()
        assert text.startswith("-----BEGIN ") and "PRIVATE" not in text
    loaded = load_trust_dir(trust)
    assert len(loaded.roots) == 1 and len(loaded.audit_signers) == 2


def test_cli_wrong_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PERMIT_HOME", str(tmp_path))
    monkeypatch.delenv("PERMIT_KEY_STORE", raising=False)
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", "a perfectly fine passphrase")
    assert run(["keys", "init"]) == 0
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", "a different passphrase")
    before = tree_digest(tmp_path)
    assert run(["keys", "rotate"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["permit: error: wrong key-store passphrase (PERMIT_KEY_PASSPHRASE)"]
    assert tree_digest(tmp_path) == before
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", "change-me")
    assert run(["keys", "rotate"]) == 1
    assert "well-known default" in capsys.readouterr().err
    assert run(["keys", "init", "--country", "CHN"]) == 2
    assert run(["keys"]) == 2


def test_cli_unwritable_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("PERMIT_HOME", str(blocker))
    monkeypatch.delenv("PERMIT_KEY_STORE", raising=False)
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", "a perfectly fine passphrase")
    assert run(["keys", "init"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("permit: error: ") and err.count("\n") == 1
    assert blocker.read_text() == "not a directory"
