"""The simulator fleet's directories are 0700 (parents too) and its files 0600 whatever the
umask; reader.conf is never written through a planted link (issue 9, §3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators import fleet
from simulators.fleet import SimFleet, load_or_create_master_keys
from tests.filemodes import mode


def test_master_keys_and_cards_private(tmp_path: Path, umask: int) -> None:
    directory = tmp_path / "new" / "sim"
    keys = load_or_create_master_keys(directory / fleet.MASTER_KEYS_FILE)
    assert mode(tmp_path / "new") == 0o700 and mode(directory) == 0o700
    assert mode(directory / fleet.MASTER_KEYS_FILE) == 0o600
    sim = SimFleet(directory, keys, n_cards=1)
    assert len(sim._load_cards()) == 1
    assert mode(sim.cards_dir) == 0o700
    images = list(sim.cards_dir.iterdir())
    assert images
    for path in images:
        assert mode(path) == 0o600, path


def test_master_keys_file_not_created_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    path = tmp_path / fleet.MASTER_KEYS_FILE
    path.symlink_to(tmp_path / "dangling")
    with pytest.raises(OSError):
        load_or_create_master_keys(path)
    assert not (tmp_path / "dangling").exists()


def test_reader_conf_replaces_a_planted_link(tmp_path: Path, umask: int) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    victim.chmod(0o644)
    conf = tmp_path / "reader.conf"
    conf.symlink_to(victim)
    fleet._write_private_text(conf, "DEVICENAME /dev/null\n")
    assert victim.read_text() == "precious" and mode(victim) == 0o644
    assert not conf.is_symlink() and conf.read_text() == "DEVICENAME /dev/null\n"
    assert mode(conf) == 0o600
