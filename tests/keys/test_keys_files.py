"""Files: private modes whatever the umask, and no write ever follows a link (issue 9, §3).

Every output path (the fsutil helpers, ``permit keys export-trust``, ``permit record sample
--out``) is attacked with a planted symbolic link to a victim file, a fifo, a directory and a
dangling link: the command refuses with one line, the victim keeps its bytes and its mode.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from api.cli import main
from keys.fsutil import (
    UnsafePathError,
    ensure_private_dir,
    write_private_file,
    write_public_file,
)
from keys.home import InsecureDataDirectory, permit_home
from keys.pki import KeyManager
from tests.filemodes import mode

from .conftest import PASSPHRASE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim" / "mk-001.key.json"
    path.parent.mkdir()
    path.write_bytes(b"the master key file\n")
    path.chmod(0o600)
    return path


def _plant_symlink(path: Path, victim: Path) -> None:
    path.symlink_to(victim)


def _plant_dangling(path: Path, victim: Path) -> None:
    path.symlink_to(victim.parent / "does-not-exist")


def _plant_fifo(path: Path, victim: Path) -> None:
    os.mkfifo(path)


def _plant_dir(path: Path, victim: Path) -> None:
    path.mkdir()


PLANTS: dict[str, Callable[[Path, Path], None]] = {
    "symlink": _plant_symlink,
    "dangling": _plant_dangling,
    "fifo": _plant_fifo,
    "directory": _plant_dir,
}


def assert_untouched(victim: Path) -> None:
    assert victim.read_bytes() == b"the master key file\n"
    assert mode(victim) == 0o600
    assert not (victim.parent / "does-not-exist").exists()


# -- the helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PLANTS))
@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
def test_helpers_refuse_planted_entries(
    tmp_path: Path, victim: Path, kind: str, public: bool
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "crl.pem"
    PLANTS[kind](target, victim)
    with pytest.raises(UnsafePathError) as info:
        if public:
            write_public_file(target, b"attacker-chosen bytes", mode=0o644)
        else:
            write_private_file(target, b"attacker-chosen bytes")
    assert "\n" not in str(info.value) and str(target) in str(info.value)
    assert_untouched(victim)
    assert os.path.lexists(target)  # the planted entry is left for the operator to see
    assert sorted(p.name for p in out.iterdir()) == ["crl.pem"]  # no temporary file left


def test_helpers_refuse_a_linked_parent_directory(tmp_path: Path, victim: Path) -> None:
    link = tmp_path / "out"
    link.symlink_to(victim.parent, target_is_directory=True)
    with pytest.raises(UnsafePathError):
        write_public_file(link / "mk-001.key.json", b"x")
    with pytest.raises(UnsafePathError):
        write_private_file(link / "mk-001.key.json", b"x")
    assert_untouched(victim)
    assert mode(victim.parent) != 0o700  # ensure_private_dir did not re-mode through the link


def test_helpers_replace_regular_files_with_exact_modes(tmp_path: Path, umask: int) -> None:
    private = tmp_path / "a" / "b" / "private.json"
    write_private_file(private, b"one")
    write_private_file(private, b"two")
    assert private.read_bytes() == b"two" and mode(private) == 0o600
    assert mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "b") == 0o700
    public = tmp_path / "public.pem"
    public.write_bytes(b"old")
    public.chmod(0o666)
    write_public_file(public, b"new", mode=0o644)
    assert public.read_bytes() == b"new" and mode(public) == 0o644
    default = tmp_path / "default.bin"
    write_public_file(default, b"x")
    assert mode(default) == 0o600
    with pytest.raises(FileExistsError):
        write_private_file(private, b"three", exclusive=True)
    assert private.read_bytes() == b"two"
    with pytest.raises(ValueError):
        write_public_file(default, b"x", mode=0o666)


def test_hard_link_to_victim_is_replaced_not_written_through(tmp_path: Path, victim: Path) -> None:
    target = tmp_path / "crl.pem"
    os.link(victim, target)
    write_public_file(target, b"new", mode=0o644)
    assert target.read_bytes() == b"new"
    assert_untouched(victim)


def test_private_dir_creates_every_parent_0700(tmp_path: Path, umask: int) -> None:
    deep = tmp_path / "x" / "y" / "z"
    ensure_private_dir(deep)
    for path in (tmp_path / "x", tmp_path / "x" / "y", deep):
        assert mode(path) == 0o700
    link = tmp_path / "link"
    link.symlink_to(deep, target_is_directory=True)
    with pytest.raises(UnsafePathError):
        ensure_private_dir(link)


# -- the data directory ---------------------------------------------------------------------


def test_permit_home_created_private_with_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    home = tmp_path / "new" / "permit"
    monkeypatch.setenv("PERMIT_HOME", str(home))
    assert permit_home() == home
    assert mode(home) == 0o700 and mode(tmp_path / "new") == 0o700


def test_keys_init_creates_private_tree_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    home = tmp_path / "new" / "home"
    monkeypatch.delenv("PERMIT_KEY_STORE", raising=False)
    monkeypatch.setenv("PERMIT_HOME", str(home))
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", PASSPHRASE)
    assert main(["keys", "init"]) == 0
    assert mode(tmp_path / "new") == 0o700
    for path in [home, *home.rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


@pytest.mark.parametrize("bits", [0o755, 0o750, 0o701, 0o722])
@pytest.mark.parametrize(
    "argv", [["keys", "list"], ["register", "migrate"], ["sim", "list"]], ids=lambda a: a[0]
)
def test_wide_home_is_refused_with_the_fix(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    bits: int,
    argv: list[str],
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(bits)
    monkeypatch.setenv("PERMIT_HOME", str(home))
    monkeypatch.delenv("PERMIT_DATABASE_URL", raising=False)
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", PASSPHRASE)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == (
        f"permit: error: data directory {home} is mode {bits:04o}, readable or writable by "
        f"others: run 'chmod 700 {home}'\n"
    )
    assert list(home.iterdir()) == [] and mode(home) == bits  # nothing created, nothing changed


def test_home_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("PERMIT_HOME", str(home))
    monkeypatch.setattr("keys.home.os.geteuid", lambda: os.stat(home).st_uid + 1)
    with pytest.raises(InsecureDataDirectory, match="not to you"):
        permit_home()
    home.rmdir()
    home.write_text("a file")
    monkeypatch.undo()
    monkeypatch.setenv("PERMIT_HOME", str(home))
    with pytest.raises(InsecureDataDirectory, match="not a directory"):
        permit_home()


def test_keys_is_a_leaf() -> None:
    """keys/ imports nothing from card_service (the data directory logic lives in keys).

    Only the card protocol layer below keys (``card_service.card``, for ``StaticKeys``) may
    be imported, lazily; importing the key layer loads no card_service module at all.
    """
    for path in (ROOT / "keys").glob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]):
                module = words[1]
                if module.startswith("card_service.card."):
                    continue
                assert not module.startswith(("card_service", "api")), (path, line)
    code = (
        "import sys, keys.config, keys.home, keys.pki, keys.file_store, keys.registry\n"
        "keys.config.load_settings({'PERMIT_HOME': '/nonexistent-permit-home'})\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('card_service', 'api')]\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PERMIT_HOME", None)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


# -- export-trust and record sample ---------------------------------------------------------


@pytest.fixture
def keyed_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("PERMIT_KEY", "PERMIT_PKCS11")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("PERMIT_HOME", str(home))
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", PASSPHRASE)
    with KeyManager() as manager:
        manager.init(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    return home


@pytest.mark.parametrize("name", ["crl.pem", "manifest.json", "root-01.pem"])
@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_export_trust_never_writes_through_planted_entries(
    keyed_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    name: str,
) -> None:
    master = keyed_home / "keys" / "private" / "mk-001.key.json"
    before, before_mode = master.read_bytes(), mode(master)
    trust = tmp_path / "trust"
    trust.mkdir()
    PLANTS[kind](trust / name, master)
    assert main(["keys", "export-trust", str(trust)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("permit: error: ") and err.count("\n") == 1
    assert "refusing to write" in err and name in err
    assert master.read_bytes() == before and mode(master) == before_mode
    assert [p.name for p in trust.iterdir()] == [name]  # refused before writing anything
    with KeyManager() as manager:  # the key store still works
        manager.store.cmac(1, b"\x00" * 16)


def test_export_trust_modes_under_permissive_umask(
    keyed_home: Path, tmp_path: Path, umask: int
) -> None:
    trust = tmp_path / "new" / "trust"
    assert main(["keys", "export-trust", str(trust)]) == 0
    assert mode(tmp_path / "new") == 0o700 and mode(trust) == 0o700
    files = list(trust.iterdir())
    assert {p.name for p in files} >= {"crl.pem", "manifest.json"}
    for path in files:
        assert mode(path) == 0o644, path  # public material, a documented choice
    assert main(["keys", "export-trust", str(trust)]) == 0  # re-export replaces files


def test_export_trust_into_a_linked_directory_is_refused(
    keyed_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "trust"
    link.symlink_to(real, target_is_directory=True)
    assert main(["keys", "export-trust", str(link)]) == 1
    assert "symbolic link" in capsys.readouterr().err
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_record_sample_never_writes_through_planted_entries(
    keyed_home: Path,
    tmp_path: Path,
    victim: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    out = tmp_path / "record.cbor"
    PLANTS[kind](out, victim)
    assert main(["record", "sample", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("permit: error: refusing to write ") and err.count("\n") == 1
    assert_untouched(victim)


def test_record_sample_mode_under_permissive_umask(
    keyed_home: Path, tmp_path: Path, umask: int
) -> None:
    out = tmp_path / "record.cbor"
    assert main(["record", "sample", "--out", str(out)]) == 0
    assert mode(out) == 0o600
    out.chmod(0o644)
    assert main(["record", "sample", "--out", str(out)]) == 0  # replaced, private again
    assert mode(out) == 0o600
