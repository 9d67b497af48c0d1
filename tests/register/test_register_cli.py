"""``permit register migrate`` and ``permit register show`` (modules the lead wires)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from api.cli import register as register_cli
from card_service.register.errors import InvalidState
from card_service.register.service import Register
from card_service.register.settings import authority_code
from tests.dbfixtures import NOW

from .helpers import approved, issue, make_register


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="permit")
    sub = parser.add_subparsers(dest="command", required=True)
    register_cli.register(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_migrate_then_show(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PERMIT_DATABASE_URL", db_url)
    assert _cli(["register", "migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    from card_service.register.db import make_engine

    engine = make_engine(db_url)
    try:
        number = issue(make_register(engine), 1)
    finally:
        engine.dispose()
    assert _cli(["register", "show", number, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["number"] == number and info["state"] == "ISSUED"
    assert "Zhang" not in json.dumps(info)
    with pytest.raises(Exception, match="no such permit"):
        _cli(["register", "show", "330106202699999990"])


def test_read_only_register_cannot_reserve(db_engine: Engine) -> None:
    app_id = approved(make_register(db_engine), 1)
    with pytest.raises(InvalidState, match="authority"):
        Register(db_engine).reserve_permit(app_id, "CARD-1", NOW)


def test_authority_code_setting() -> None:
    assert authority_code({}) is None
    assert authority_code({"PERMIT_AUTHORITY_CODE": "330106"}) == "330106"
    with pytest.raises(ValueError):
        authority_code({"PERMIT_AUTHORITY_CODE": "33A106"})


def test_checkpoint_interval_setting() -> None:
    from card_service.register.settings import checkpoint_every

    assert checkpoint_every({}) == 100
    assert checkpoint_every({"PERMIT_AUDIT_CHECKPOINT_EVERY": "25"}) == 25
    for bad in ("0", "-1", "1e3", "x", "100001"):
        with pytest.raises(ValueError, match="PERMIT_AUDIT_CHECKPOINT_EVERY"):
            checkpoint_every({"PERMIT_AUDIT_CHECKPOINT_EVERY": bad})


def test_workflow_commands_seal_the_audit_log_with_the_audit_signer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The register the officer commands use carries the audit signer: with a 2-entry
    interval, its writes seal the log by themselves and `permit audit verify` says OK."""
    import datetime as dt
    import os

    from sqlmodel import Session, select

    from api.cli import main
    from card_service.audit.models import AuditCheckpoint
    from card_service.migrations import upgrade
    from card_service.office import Office
    from card_service.register.db import make_engine
    from keys.config import KeySettings
    from keys.pki import KeyManager
    from tests.dbfixtures import KEY_PASSPHRASE

    home = tmp_path / "home"
    url = f"sqlite:///{tmp_path / 'register.db'}"
    env = {
        "PERMIT_HOME": str(home),
        "PERMIT_KEY_PASSPHRASE": KEY_PASSPHRASE,
        "PERMIT_DATABASE_URL": url,
        "PERMIT_AUTHORITY_CODE": "330106",
        "PERMIT_AUDIT_CHECKPOINT_EVERY": "2",
        "PERMIT_READERS": "sim",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    now = dt.datetime.now(dt.UTC)
    with KeyManager(KeySettings(directory=home / "keys", env=env)) as manager:
        manager.init(now - dt.timedelta(minutes=1))
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()

    station = Office.from_env(os.environ)  # as the officer commands build it
    register = station.workflows(now).register
    assert register.checkpoint_every == 2
    for person in range(1, 4):  # three application decisions: sealed after the second
        approved(register, person, now)
    with Session(station.engine) as session:
        sealed = list(session.exec(select(AuditCheckpoint)))
    assert [c.seq for c in sealed] == [2]
    assert sealed[0].signer_id.startswith("audit-")
    station.close()
    assert main(["audit", "verify"]) == 0

    monkeypatch.setenv("PERMIT_AUDIT_CHECKPOINT_EVERY", "0")
    assert main(["reconcile"]) == 2  # a bad setting is a usage error, not a traceback
