"""Personal data never reaches a log through SQLAlchemy: statement parameters are hidden by the
engine (``hide_parameters``) and ``permit -vv`` keeps the SQLAlchemy loggers at WARNING."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from api.cli import main
from card_service.register.db import make_engine

MARKER = "Zhang-San-personal-4f1e"


def test_engine_hides_parameters_in_logs_and_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}", echo=True)
    caplog.set_level(1)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (name TEXT NOT NULL UNIQUE)"))
        conn.execute(text("INSERT INTO t (name) VALUES (:n)"), {"n": MARKER})
        with pytest.raises(Exception) as info:
            conn.execute(text("INSERT INTO t (name) VALUES (:n)"), {"n": MARKER})
    assert "INSERT INTO t" in caplog.text  # the statements were logged ...
    assert MARKER not in caplog.text  # ... their parameters not
    assert MARKER not in str(info.value)


def test_cli_debug_keeps_sqlalchemy_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("PERMIT_HOME", str(home))
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.DEBUG)  # what -vv's basicConfig sets outside pytest
    monkeypatch.setattr(logging.getLogger("sqlalchemy"), "level", logging.NOTSET)
    main(["-vv", "register", "migrate"])
    assert logging.getLogger("sqlalchemy").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("sqlalchemy.engine.Engine").getEffectiveLevel() >= logging.WARNING
