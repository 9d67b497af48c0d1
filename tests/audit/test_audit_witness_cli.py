"""``permit audit verify --witness`` and ``permit audit checkpoint``: exit codes and messages
(0 OK, 1 BAD, 3 NOT WITNESSED, 2 usage), on both databases."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine

from api.cli import audit as audit_cli
from api.cli import exit_code
from card_service.audit import WitnessDir, create_checkpoint
from keys.pki import KeyManager
from permit_errors import PermitError
from tests.dbfixtures import NOW

from .attacks import delete_checkpoints, rewrite_history, truncate
from .test_audit_chain import add


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="permit")
    sub = parser.add_subparsers(dest="command", required=True)
    audit_cli.register(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.fixture
def env(
    db_url: str, key_manager: KeyManager, monkeypatch: pytest.MonkeyPatch, _witness_dir: Path
) -> Path:
    monkeypatch.setenv("PERMIT_DATABASE_URL", db_url)
    for name, value in key_manager.settings.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PERMIT_AUDIT_CHECKPOINT_EVERY", "3")
    monkeypatch.setattr(audit_cli, "_now", lambda: NOW + dt.timedelta(hours=1))
    return _witness_dir


def test_checkpoint_command_writes_the_witness(
    env: Path, db_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    add(db_engine, 7)
    assert cli(["audit", "checkpoint"]) == 0  # due ones at 3 and 6, then the head
    assert "checkpoint at entry 7" in capsys.readouterr().out
    assert WitnessDir(env).seqs() == [3, 6, 7]
    assert stat.S_IMODE(os.stat(env).st_mode) == 0o700
    assert cli(["audit", "verify", "--witness"]) == 0  # the configured directory
    out = capsys.readouterr().out
    assert out.startswith("audit log OK: 7 entries, 3 checkpoints (3 witnessed)")
    assert "0 unsealed after the last witnessed entry 7" in out
    assert cli(["audit", "verify", "--json", "--witness", str(env)]) == 0
    good = json.loads(capsys.readouterr().out)
    assert (good["status"], good["witnessed_checkpoints"], good["unsealed_entries"]) == ("ok", 3, 0)


def test_verify_without_witness_says_what_it_cannot_see(
    env: Path, db_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    add(db_engine, 2)
    assert cli(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "2 unsealed after entry 0" in out and "use --witness" in out


def test_attack_delete_and_rewrite_fails_the_cli(
    env: Path, db_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    add(db_engine, 7)
    assert cli(["audit", "checkpoint"]) == 0
    capsys.readouterr()
    delete_checkpoints(db_engine)
    rewrite_history(db_engine, 2)
    # the configured cadence alone: checkpoints are missing
    assert cli(["audit", "verify"]) == 1
    assert capsys.readouterr().out.startswith(
        "audit log BAD at entry 3: checkpoint due at entry 3 is missing"
    )
    assert cli(["audit", "verify", "--witness", str(env)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("audit log BAD at entry 3:") and "witnessed checkpoint" in out
    assert cli(["audit", "verify", "--json", "--witness", str(env)]) == 1
    bad = json.loads(capsys.readouterr().out)
    assert (bad["ok"], bad["status"], bad["unsealed_entries"]) == (False, "bad", None)


def test_attack_truncation_fails_the_cli(
    env: Path, db_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    add(db_engine, 7)
    assert cli(["audit", "checkpoint"]) == 0
    truncate(db_engine, 6)
    capsys.readouterr()
    assert cli(["audit", "verify", "--witness", str(env)]) == 1
    assert "log truncated: witnessed checkpoint 7" in capsys.readouterr().out


def test_unwitnessed_checkpoint_exits_3_and_checkpoint_repairs_it(
    env: Path, db_engine: Engine, key_manager: KeyManager, capsys: pytest.CaptureFixture[str]
) -> None:
    add(db_engine, 3)
    create_checkpoint(db_engine, key_manager, NOW)  # register only: as after a crash
    env.mkdir(mode=0o700)
    assert cli(["audit", "verify", "--witness", str(env)]) == 3
    out = capsys.readouterr().out
    assert out.startswith("audit log NOT WITNESSED:") and "first 3" in out
    assert cli(["audit", "checkpoint"]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 missing witness file(s), first for entry 3" in out
    assert cli(["audit", "verify", "--witness", str(env)]) == 0


def test_checkpoint_refuses_to_seal_over_a_deleted_witnessed_checkpoint(
    env: Path, db_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    add(db_engine, 3)
    assert cli(["audit", "checkpoint"]) == 0
    delete_checkpoints(db_engine)
    rewrite_history(db_engine, 1)
    with pytest.raises(PermitError, match="witness holds checkpoint 3"):
        cli(["audit", "checkpoint"])


def test_bad_cadence_is_a_usage_error(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERMIT_AUDIT_CHECKPOINT_EVERY", "zero")
    with pytest.raises(PermitError) as info:
        cli(["audit", "verify"])
    assert exit_code(info.value) == 2  # mapped as api.cli.main maps it
    with pytest.raises(SystemExit):
        cli(["audit", "verify", "--every", "0"])


def test_missing_witness_directory_is_a_usage_error(env: Path, tmp_path: Path) -> None:
    with pytest.raises(PermitError, match="no witness directory") as info:
        cli(["audit", "verify", "--witness", str(tmp_path / "typo")])
    assert exit_code(info.value) == 2  # mapped as api.cli.main maps it
