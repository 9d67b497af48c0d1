"""An office on a real (file) key store and a SQLite register, for the routes that read key
material or seal the audit log (an ephemeral office has no key store)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from card_service.office import Office, Settings
from tests.dbfixtures import KEY_PASSPHRASE, NOW

__all__ = ["keyed_env", "keyed_office"]


@pytest.fixture
def keyed_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PERMIT_HOME": str(tmp_path / "home"),
        "PERMIT_KEY_PASSPHRASE": KEY_PASSPHRASE,
        "PERMIT_READERS": "sim",
        "PERMIT_AUDIT_CHECKPOINT_EVERY": "5",
    }


@pytest.fixture
def keyed_office(keyed_env: dict[str, str]) -> Iterator[Office]:
    """Keys initialised a day before ``NOW``, the register migrated."""
    with Office.from_settings(Settings.from_env(keyed_env)) as office:
        office.init_keys(NOW - dt.timedelta(days=1))
        office.migrate_register()
        yield office
