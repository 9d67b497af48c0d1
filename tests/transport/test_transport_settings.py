"""card_service.settings.permit_home: env, XDG default, mode 0700."""

from __future__ import annotations

from pathlib import Path

import pytest

from card_service.settings import permit_home


def test_permit_home_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERMIT_HOME", str(tmp_path / "a" / "b"))
    home = permit_home()
    assert home == tmp_path / "a" / "b"
    assert home.is_dir() and home.stat().st_mode & 0o777 == 0o700


def test_permit_home_xdg_and_home_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERMIT_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert permit_home() == tmp_path / "xdg" / "permit"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = permit_home()
    assert home == tmp_path / "home" / ".local" / "share" / "permit"
    assert home.stat().st_mode & 0o777 == 0o700
