"""Signed checkpoints (the key store's audit signer, verified against root + CRL) and
``permit audit``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select, text
from sqlmodel import Session

from api.cli import audit as audit_cli
from card_service.audit import (
    AuditCheckpoint,
    create_checkpoint,
    entry_hash,
    maybe_checkpoint,
    verify_audit_log,
)
from card_service.audit.trust import local_trust
from card_service.register.db import read_only
from card_service.register.store import seal_if_due
from keys.pki import KeyManager
from tests.dbfixtures import KEY_PASSPHRASE, NOW
from tests.register.helpers import issue, make_register

from .test_audit_chain import add, exec_sql


def check(
    engine: Engine, manager: KeyManager, now: dt.datetime = NOW
) -> tuple[bool, int | None, str, int, int]:
    with Session(engine) as session:
        r = verify_audit_log(session, local_trust(manager), now)
    return r.ok, r.first_bad_seq, r.reason or "", r.checkpoints_checked, r.unsealed_entries


def test_register_seals_every_n_entries(db_engine: Engine, key_manager: KeyManager) -> None:
    register = make_register(db_engine, checkpoint_signer=key_manager, checkpoint_every=4)
    for i in range(4):
        issue(register, 300 + i)  # 3 entries each
    ok, _, _, checkpoints, unsealed = check(db_engine, key_manager)
    assert ok and checkpoints == 3 and unsealed < 4
    with Session(db_engine) as session:
        rows = session.execute(select(AuditCheckpoint)).scalars().all()
        assert all(r.signer_id.startswith("audit-") for r in rows)  # never a document signer


def test_checkpoint_on_demand_and_nothing_to_do(db_engine: Engine, key_manager: KeyManager) -> None:
    assert create_checkpoint(db_engine, key_manager, NOW) is None  # empty log
    add(db_engine, 3)
    sealed = create_checkpoint(db_engine, key_manager, NOW)
    assert sealed is not None and sealed.seq == 3
    assert create_checkpoint(db_engine, key_manager, NOW) is None  # already sealed
    assert maybe_checkpoint(db_engine, key_manager, 5, NOW) is None
    assert check(db_engine, key_manager) == (True, None, "", 1, 0)


def test_insider_rewriting_the_chain_before_a_checkpoint_is_caught(
    db_engine: Engine, key_manager: KeyManager
) -> None:
    add(db_engine, 5)
    create_checkpoint(db_engine, key_manager, NOW)
    add(db_engine, 2, start=10)
    # rewrite entry 2 and recompute every later hash and the head: the chain is consistent
    with db_engine.begin() as conn:
        rows = conn.execute(text("SELECT * FROM audit_event ORDER BY seq")).mappings().all()
        prev = rows[0]["entry_hash"]
        for row in rows[1:]:
            result = "invalid" if row["seq"] == 2 else row["result"]
            time = row["time"]
            if isinstance(time, str):
                time = dt.datetime.fromisoformat(time)
            if time.tzinfo is None:
                time = time.replace(tzinfo=dt.UTC)
            new = entry_hash(
                row["seq"], time, row["actor"], row["action"], row["permit_number"], result, prev
            )
            conn.execute(
                text("UPDATE audit_event SET result=:r, prev_hash=:p, entry_hash=:h WHERE seq=:s"),
                {"r": result, "p": prev, "h": new, "s": row["seq"]},
            )
            prev = new
        conn.execute(text("UPDATE audit_head SET entry_hash=:h"), {"h": prev})
    ok, seq, reason, *_ = check(db_engine, key_manager)
    assert (ok, seq) == (False, 5)
    assert "checkpoint" in reason


def test_truncation_through_a_checkpoint_is_caught(
    db_engine: Engine, key_manager: KeyManager
) -> None:
    add(db_engine, 6)
    create_checkpoint(db_engine, key_manager, NOW)
    exec_sql(db_engine, "DELETE FROM audit_event WHERE seq > 3")
    with db_engine.begin() as conn:  # the insider also rewinds the head
        last = conn.execute(text("SELECT entry_hash FROM audit_event WHERE seq = 3")).scalar_one()
        conn.execute(text("UPDATE audit_head SET seq = 3, entry_hash = :h"), {"h": last})
    ok, seq, reason, *_ = check(db_engine, key_manager)
    assert (ok, seq) == (False, 4) and "truncated" in reason


def test_forged_checkpoint_signature_is_caught(db_engine: Engine, key_manager: KeyManager) -> None:
    add(db_engine, 2)
    create_checkpoint(db_engine, key_manager, NOW)
    with db_engine.begin() as conn:
        sig = conn.execute(text("SELECT signature FROM audit_checkpoint")).scalar_one()
        flipped = sig[:-2] + ("00" if sig[-2:] != "00" else "01")
        conn.execute(text("UPDATE audit_checkpoint SET signature = :s"), {"s": flipped})
    ok, seq, reason, *_ = check(db_engine, key_manager)
    assert (ok, seq) == (False, 2) and "signature" in reason


def test_checkpoint_signer_must_chain_to_the_trusted_root(
    db_engine: Engine, key_manager: KeyManager, tmp_path: Path
) -> None:
    from keys.config import KeySettings

    other_home = tmp_path / "other"
    settings = KeySettings(
        directory=other_home / "keys",
        env={"PERMIT_HOME": str(other_home), "PERMIT_KEY_PASSPHRASE": KEY_PASSPHRASE},
    )
    with KeyManager(settings) as rogue:
        rogue.init(NOW - dt.timedelta(days=1))
        add(db_engine, 2)
        create_checkpoint(db_engine, rogue, NOW)
    ok, seq, reason, *_ = check(db_engine, key_manager)
    assert (ok, seq) == (False, 2) and "not trusted" in reason


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="permit")
    sub = parser.add_subparsers(dest="command", required=True)
    audit_cli.register(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_verify(
    db_url: str,
    db_engine: Engine,
    key_manager: KeyManager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PERMIT_DATABASE_URL", db_url)
    now = NOW + dt.timedelta(hours=1)
    monkeypatch.setattr(audit_cli, "_now", lambda: now)  # deterministic: the CLI reads the clock
    add(db_engine, 4)
    create_checkpoint(db_engine, key_manager, NOW)
    trust_dir = tmp_path / "trust"
    key_manager.export_trust(trust_dir, now)
    assert _cli(["audit", "verify", "--json", "--trust", str(trust_dir)]) == 0
    good = json.loads(capsys.readouterr().out)
    assert good["ok"] and good["entries_checked"] == 4 and good["checkpoints_checked"] == 1

    exec_sql(db_engine, "UPDATE audit_event SET actor = 'mallory' WHERE seq = 2")
    assert _cli(["audit", "verify", "--trust", str(trust_dir)]) == 1
    assert "entry 2" in capsys.readouterr().out
    assert _cli(["audit", "verify", "--json", "--trust", str(trust_dir)]) == 1
    bad = json.loads(capsys.readouterr().out)
    assert (bad["ok"], bad["first_bad_seq"]) == (False, 2)


def test_cli_checkpoint_uses_the_local_key_store(
    db_url: str,
    db_engine: Engine,
    key_manager: KeyManager,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PERMIT_DATABASE_URL", db_url)
    for name, value in key_manager.settings.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(audit_cli, "_now", lambda: NOW + dt.timedelta(hours=1))
    assert _cli(["audit", "checkpoint"]) == 0
    assert "nothing to seal" in capsys.readouterr().out
    add(db_engine, 2)
    assert _cli(["audit", "checkpoint"]) == 0
    assert "checkpoint at entry 2" in capsys.readouterr().out
    assert _cli(["audit", "verify"]) == 0  # trust from the local key directory
    assert "1 checkpoints" in capsys.readouterr().out


def _immediate_begins(engine: Engine) -> list[str]:
    """Every ``BEGIN IMMEDIATE`` (SQLite's write lock) the engine issues from now on."""
    seen: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.strip().upper() == "BEGIN IMMEDIATE":
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen


def test_the_question_whether_a_seal_is_due_takes_no_write_lock(
    sqlite_engine: Engine, key_manager: KeyManager
) -> None:
    """After every committed write the register asks whether a checkpoint is due; asked
    through the write engine, that read queued for SQLite's write lock a second time per
    write (behind every other writer of every process).  It is asked read-only; the seal
    itself still writes (and re-checks) under the lock."""
    db_engine = sqlite_engine
    register = make_register(db_engine, checkpoint_signer=key_manager, checkpoint_every=50)
    add(db_engine, 3)
    begins = _immediate_begins(db_engine)
    seal_if_due(register, NOW)  # not due: three entries of fifty
    assert begins == []
    assert maybe_checkpoint(db_engine, key_manager, 50, NOW, probe=read_only(db_engine)) is None
    assert begins == []
    # due: the probe answers read-only, the seal writes under the lock
    sealed = maybe_checkpoint(db_engine, key_manager, 2, NOW, probe=read_only(db_engine))
    assert sealed is not None and sealed.seq == 2 and begins
    assert check(db_engine, key_manager)[0]
