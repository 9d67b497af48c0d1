"""The SQLite register and its -wal/-shm files are 0600 whatever the umask (issue 9, §3).

Applicants' citizen ID numbers live in ``register.db``: before the fix SQLite created it
0644 (any local user could read it) inside a data directory created 0755.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from card_service.migrations import upgrade
from card_service.register.db import database_url, make_engine
from keys.fsutil import UnsafePathError
from tests.filemodes import mode


def test_default_register_and_side_files_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    home = tmp_path / "new" / "home"
    engine = make_engine(database_url({"PERMIT_HOME": str(home)}))
    try:
        upgrade(engine)
        with engine.connect() as conn:  # a reader keeps -wal and -shm in place
            conn.execute(text("SELECT 1")).all()
            names = {p.name for p in home.iterdir()}
            assert {"register.db", "register.db-wal", "register.db-shm"} <= names
            for path in home.iterdir():
                assert mode(path) == 0o600, path
    finally:
        engine.dispose()
    assert mode(home) == 0o700 and mode(tmp_path / "new") == 0o700


def test_explicit_sqlite_url_private_too(tmp_path: Path, umask: int) -> None:
    db = tmp_path / "sub" / "r.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        for path in db.parent.iterdir():
            assert mode(path) == 0o600, path
        assert mode(db.parent) == 0o700
    finally:
        engine.dispose()


def test_existing_world_readable_register_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    (tmp_path / "r.db-wal").touch()
    (tmp_path / "r.db-wal").chmod(0o666)
    make_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600 and mode(tmp_path / "r.db-wal") == 0o600


@pytest.mark.parametrize("side", ["", "-wal", "-shm"])
def test_register_path_that_is_a_link_is_refused(tmp_path: Path, side: str) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    victim.chmod(0o644)
    db = tmp_path / "r.db"
    if side:
        db.touch(mode=0o600)
    (tmp_path / f"r.db{side}").symlink_to(victim)
    with pytest.raises(UnsafePathError, match="not a regular file"):
        make_engine(f"sqlite:///{db}")
    assert victim.read_bytes() == b"precious" and mode(victim) == 0o644
