"""``permit register migrate`` and ``permit register show`` (modules the lead wires)."""

from __future__ import annotations

import argparse
import json

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
