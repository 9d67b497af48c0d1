"""Corrupted or hostile file-store files: always CorruptKeyFile, never another exception
(security review: crash fixes found by fuzzing the CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keys.errors import CorruptKeyFile
from keys.file_store import FileKeyStore

from .conftest import PASSPHRASE

KVN = 1
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """store.json and mk-001.key.json of a fresh store."""
    directory = tmp_path_factory.mktemp("store")
    store = FileKeyStore(directory, PASSPHRASE.encode())
    store._write_master_key(KVN, bytes(range(16)))
    return (directory / "store.json").read_bytes(), (directory / "mk-001.key.json").read_bytes()


def _store(tmp_path: Path, meta: bytes, mk: bytes) -> FileKeyStore:
    (tmp_path / "store.json").write_bytes(meta)
    (tmp_path / "mk-001.key.json").write_bytes(mk)
    return FileKeyStore(tmp_path, PASSPHRASE.encode())


def _edit(raw: bytes, path: tuple[str, ...], value: Any) -> bytes:
    doc = json.loads(raw)
    target = doc
    for name in path[:-1]:
        target = target[name]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(doc).encode()


_DELETE = object()

META_CASES: dict[str, Any] = {
    "list": lambda m: b"[]",
    "string": lambda m: b'"permit-file-store-v1"',
    "deeply-nested": lambda m: DEEP,
    "not-utf8": lambda m: b"\xff\xfe{}",
    "kdf-string": lambda m: _edit(m, ("kdf",), "scrypt"),
    "check-list": lambda m: _edit(m, ("check",), [1, 2]),
    "no-salt": lambda m: _edit(m, ("kdf", "salt"), _DELETE),
    "salt-int": lambda m: _edit(m, ("kdf", "salt"), 7),
    "n-not-power-of-two": lambda m: _edit(m, ("kdf", "n"), 3),
    "n-too-small": lambda m: _edit(m, ("kdf", "n"), 2**10),
    "n-bool": lambda m: _edit(m, ("kdf", "n"), True),
    "n-string": lambda m: _edit(m, ("kdf", "n"), "32768"),
    "n-float": lambda m: _edit(m, ("kdf", "n"), 32768.0),
    "n-infinite": lambda m: m.replace(b'"n": 32768', b'"n": 1e400'),
    "r-zero": lambda m: _edit(m, ("kdf", "r"), 0),
    "r-huge": lambda m: _edit(m, ("kdf", "r"), 2**40),
    "p-huge": lambda m: _edit(m, ("kdf", "p"), 2**31),
    "p-negative": lambda m: _edit(m, ("kdf", "p"), -1),
    "nonce-short": lambda m: _edit(m, ("check", "nonce"), "0102"),
    "nonce-empty": lambda m: _edit(m, ("check", "nonce"), ""),
    "nonce-long": lambda m: _edit(m, ("check", "nonce"), "00" * 200),
    "ciphertext-short": lambda m: _edit(m, ("check", "ciphertext"), "00"),
    "kdf-name": lambda m: _edit(m, ("kdf", "name"), "pbkdf2"),
}


@pytest.mark.parametrize("case", list(META_CASES))
def test_corrupted_store_json(tmp_path: Path, pristine: tuple[bytes, bytes], case: str) -> None:
    meta, mk = pristine
    if case == "n-infinite":
        assert b'"n": 32768' in meta
    store = _store(tmp_path, META_CASES[case](meta), mk)
    with pytest.raises(CorruptKeyFile, match=r"store\.json is corrupted"):
        store.check()
    with pytest.raises(CorruptKeyFile):
        _store(tmp_path, META_CASES[case](meta), mk).cmac(KVN, b"x")


MK_CASES: dict[str, Any] = {
    "list": lambda m: b"[1]",
    "deeply-nested": lambda m: DEEP,
    "not-utf8": lambda m: b"\xff\xfe{}",
    "kvn-string": lambda m: _edit(m, ("kvn",), "1"),
    "nonce-short": lambda m: _edit(m, ("nonce",), "0102"),
    "nonce-empty": lambda m: _edit(m, ("nonce",), ""),
    "nonce-int": lambda m: _edit(m, ("nonce",), 12),
    "ciphertext-list": lambda m: _edit(m, ("ciphertext",), ["00"]),
    "ciphertext-short": lambda m: _edit(m, ("ciphertext",), "0011"),
    "no-nonce": lambda m: _edit(m, ("nonce",), _DELETE),
}


@pytest.mark.parametrize("case", list(MK_CASES))
def test_corrupted_master_key_file(
    tmp_path: Path, pristine: tuple[bytes, bytes], case: str
) -> None:
    meta, mk = pristine
    store = _store(tmp_path, meta, MK_CASES[case](mk))
    store.check()  # store.json itself is fine
    with pytest.raises(CorruptKeyFile, match=r"mk-001\.key\.json"):
        store.cmac(KVN, b"x")


def test_pristine_store_still_opens(tmp_path: Path, pristine: tuple[bytes, bytes]) -> None:
    store = _store(tmp_path, *pristine)
    store.check()
    assert len(store.cmac(KVN, b"x")) == 16
