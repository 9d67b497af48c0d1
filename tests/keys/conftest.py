"""Fixtures for the key tests: a PERMIT_HOME per test, the file store and a SoftHSM2 token.

SoftHSM2 reads ``SOFTHSM2_CONF`` once per process (at ``C_Initialize``), so one
configuration and token directory serve the whole session and every test gets a fresh
token with its own label (the store re-initialises the module when a label is new).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keys.config import KeySettings, load_settings
from keys.file_store import FileKeyStore
from keys.pki import KeyManager
from keys.store import KeyStore, master_key_id

PASSPHRASE = "correct horse battery staple 7"
SO_PIN = "87654321"
USER_PIN = "246813"
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)

SOFTHSM_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)


def find_softhsm_module() -> str | None:
    for candidate in SOFTHSM_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    try:
        out = subprocess.run(
            ["dpkg", "-L", "softhsm2"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return None
    for line in out.splitlines():
        if line.endswith("libsofthsm2.so") and os.path.exists(line):
            return line
    return None


@dataclass
class SoftHsm:
    module: str
    directory: Path

    def new_token(self) -> str:
        label = "permit-test-" + uuid.uuid4().hex[:8]
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label,
             "--so-pin", SO_PIN, "--pin", USER_PIN],
            check=True, capture_output=True,
        )  # fmt: skip
        return label


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    module = find_softhsm_module()
    if module is None or shutil.which("softhsm2-util") is None:
        pytest.skip("softhsm2 is not installed (apt-get install softhsm2)")
    directory = tmp_path_factory.mktemp("softhsm")
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {directory / 'tokens'}\n"
        "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
    )
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        yield SoftHsm(module, directory)
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old


def file_env(home: Path) -> dict[str, str]:
    return {"PERMIT_HOME": str(home), "PERMIT_KEY_PASSPHRASE": PASSPHRASE}


def pkcs11_env(home: Path, hsm: SoftHsm, label: str) -> dict[str, str]:
    return {
        "PERMIT_HOME": str(home),
        "PERMIT_KEY_STORE": "pkcs11",
        "PERMIT_PKCS11_MODULE": hsm.module,
        "PERMIT_PKCS11_TOKEN": label,
        "PERMIT_PKCS11_PIN": USER_PIN,
    }


@pytest.fixture(params=["file", "pkcs11"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def key_env(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:  # fmt: skip
    """Environment for one store kind, also applied to os.environ (for the CLI)."""
    for name in list(os.environ):
        if name.startswith(("PERMIT_KEY", "PERMIT_PKCS11")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    if store_kind == "pkcs11":
        hsm: SoftHsm = request.getfixturevalue("softhsm")
        env = pkcs11_env(home, hsm, hsm.new_token())
    else:
        env = file_env(home)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def settings(key_env: dict[str, str]) -> KeySettings:
    return load_settings(key_env)


@pytest.fixture
def manager(settings: KeySettings) -> Iterator[KeyManager]:
    with KeyManager(settings) as m:
        yield m


@pytest.fixture
def initialised(manager: KeyManager) -> KeyManager:
    manager.init(NOW)
    return manager


def import_master_key(store: KeyStore, kvn: int, raw: bytes) -> None:
    """Test-only import of a known AES master key (non-extractable on the token)."""
    if isinstance(store, FileKeyStore):
        store._write_master_key(kvn, raw)
        return
    from pkcs11 import Attribute, KeyType, ObjectClass

    session: Any = store._open()  # type: ignore[attr-defined]
    session.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.VALUE: raw,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.LABEL: master_key_id(kvn),
            Attribute.ID: master_key_id(kvn).encode(),
        }
    )


def tree_digest(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under ``root`` with its mode and content hash."""
    result: dict[str, tuple[int, str]] = {}
    if not root.exists():
        return result
    for path in sorted(root.rglob("*")):
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        result[str(path.relative_to(root))] = (st.st_mode, digest)
    return result
