"""Hostile files in the keys folder (issue 9, §8): KDF parameters named by a PKCS#8 key file
are bounded before any derivation, and registry paths stay inside the keys folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import pem

import keys.file_store as file_store
from keys.errors import CorruptKeyFile
from keys.pki import KeyManager
from keys.registry import REGISTRY_NAME, load_registry
from keys.store import Algorithm

from .conftest import NOW, PASSPHRASE

# -- PKCS#8 KDF bounds ----------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> file_store.FileKeyStore:
    s = file_store.FileKeyStore(tmp_path / "private", PASSPHRASE.encode())
    s.generate_signing_key("ds-0001", Algorithm.ECDSA_P256)
    s.close()
    return s


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Records every call of the PBKDF2-running decryption, then runs it."""
    calls: list[bytes] = []
    real = file_store._decrypt_pkcs8

    def spying(der: bytes, passphrase: bytes) -> Any:
        calls.append(der)
        return real(der, passphrase)

    monkeypatch.setattr(file_store, "_decrypt_pkcs8", spying)
    return calls


def _rewrite(path: Path, edit: Callable[[Any], None]) -> None:
    """Re-encode the EncryptedPrivateKeyInfo of ``path`` after ``edit`` changed it."""
    _, _, der = pem.unarmor(path.read_bytes())
    info = asn1_keys.EncryptedPrivateKeyInfo.load(der)
    edit(info)
    info = asn1_keys.EncryptedPrivateKeyInfo.load(info.dump(force=True))
    path.write_bytes(pem.armor("ENCRYPTED PRIVATE KEY", info.dump()))


def _kdf(info: Any) -> Any:
    return info["encryption_algorithm"]["parameters"]["key_derivation_func"]["parameters"]


def _iterations(count: int) -> Callable[[Any], None]:
    def edit(info: Any) -> None:
        _kdf(info)["iteration_count"] = count

    return edit


def _kdf_oid(info: Any) -> None:  # PBES2 with scrypt (RFC 7914) instead of PBKDF2
    info["encryption_algorithm"]["parameters"]["key_derivation_func"]["algorithm"] = (
        "1.3.6.1.4.1.11591.4.11"
    )


def _cipher(info: Any) -> None:
    scheme = info["encryption_algorithm"]["parameters"]["encryption_scheme"]
    scheme["algorithm"] = "aes256_ofb"


def _prf_sha1(info: Any) -> None:
    _kdf(info)["prf"] = {"algorithm": "sha1"}


def _pbes1(info: Any) -> None:
    info["encryption_algorithm"] = {
        "algorithm": "pkcs12_sha1_tripledes_3key",
        "parameters": {"salt": b"\x01" * 8, "iterations": 2**31 - 1},
    }


def _key_length(info: Any) -> None:
    _kdf(info)["key_length"] = 2**30


def _salt(info: Any) -> None:
    _kdf(info)["salt"] = ("specified", b"\x00" * 4096)


def test_good_key_file_goes_through_the_bounded_path(
    store: file_store.FileKeyStore, spy: list[bytes]
) -> None:
    handle = store.signing_key("ds-0001", Algorithm.ECDSA_P256)
    assert store.sign(handle, b"data")
    assert len(spy) == 1  # the spy sees derivations: it would catch one that is not bounded


@pytest.mark.parametrize(
    "edit",
    [
        _iterations(2**31),
        _iterations(2**22 + 1),
        _iterations(10),
        _kdf_oid,
        _cipher,
        _prf_sha1,
        _pbes1,
        _key_length,
        _salt,
    ],
    ids=[
        "2^31-iterations",
        "above-max",
        "too-few",
        "scrypt-kdf",
        "aes-ofb",
        "prf-sha1",
        "pkcs12-pbe",
        "key-length",
        "huge-salt",
    ],
)
def test_hostile_kdf_parameters_refused_before_derivation(
    store: file_store.FileKeyStore, spy: list[bytes], edit: Callable[[Any], None]
) -> None:
    _rewrite(store.directory / "ds-0001.p8.pem", edit)
    handle = store.signing_key("ds-0001", Algorithm.ECDSA_P256)
    with pytest.raises(CorruptKeyFile, match=r"key file ds-0001\.p8\.pem is corrupted"):
        store.sign(handle, b"data")
    assert spy == []  # the derivation never ran


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n!!!!\n-----END ENCRYPTED PRIVATE KEY-----\n",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        b"x" * (2**20),
    ],
    ids=["empty", "unencrypted", "bad-base64", "empty-sequence", "huge"],
)
def test_malformed_key_files_refused_before_derivation(
    store: file_store.FileKeyStore, spy: list[bytes], content: bytes
) -> None:
    (store.directory / "ds-0001.p8.pem").write_bytes(content)
    handle = store.signing_key("ds-0001", Algorithm.ECDSA_P256)
    with pytest.raises(CorruptKeyFile):
        store.sign(handle, b"data")
    assert spy == []


def test_second_pem_block_cannot_smuggle_parameters(
    store: file_store.FileKeyStore, spy: list[bytes]
) -> None:
    path = store.directory / "ds-0001.p8.pem"
    good = path.read_bytes()
    _rewrite(path, _iterations(2**31))
    path.write_bytes(good + path.read_bytes())
    with pytest.raises(CorruptKeyFile):
        store.sign(store.signing_key("ds-0001", Algorithm.ECDSA_P256), b"data")
    assert spy == []


# -- registry path confinement --------------------------------------------------------------


@pytest.fixture
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PERMIT_KEY_STORE", raising=False)
    monkeypatch.setenv("PERMIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", PASSPHRASE)
    with KeyManager() as manager:
        manager.init(NOW)
        return manager.directory


def _edit_registry(directory: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = directory / REGISTRY_NAME
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def _root_cert(value: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["roots"][0]["cert_file"] = value

    return edit


def _crl_file(value: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["crl"]["file"] = value

    return edit


def _signer_cert(value: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["audit_signers"][0]["cert_file"] = value

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _root_cert("/etc/passwd"),
        _root_cert("../../victim.pem"),
        _root_cert("certs/../../victim.pem"),
        _crl_file("crl/../../../victim.pem"),
        _signer_cert("/tmp/audit.pem"),
        _root_cert(""),
        _root_cert("."),
    ],
    ids=["absolute", "dotdot", "inner-dotdot", "crl-dotdot", "signer-absolute", "empty", "dot"],
)
def test_registry_paths_outside_the_keys_folder_refused(
    keys_dir: Path, edit: Callable[[dict[str, Any]], None]
) -> None:
    _edit_registry(keys_dir, edit)
    with pytest.raises(CorruptKeyFile, match="outside the keys folder"):
        load_registry(keys_dir)


def test_registry_path_through_a_symlink_pointing_out_refused(
    keys_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "root-01.pem"
    victim.write_bytes((keys_dir / "certs" / "root-01.pem").read_bytes())
    (keys_dir / "escape").symlink_to(outside, target_is_directory=True)
    _edit_registry(keys_dir, _root_cert("escape/root-01.pem"))
    with pytest.raises(CorruptKeyFile, match="outside the keys folder"):
        load_registry(keys_dir)
    # a certificate file itself replaced by a link pointing out is refused as well
    _edit_registry(keys_dir, _root_cert("certs/root-01.pem"))
    load_registry(keys_dir)
    cert = keys_dir / "certs" / "root-01.pem"
    cert.unlink()
    cert.symlink_to(victim)
    with pytest.raises(CorruptKeyFile, match="outside the keys folder"):
        KeyManager().registry  # noqa: B018 - the load is the test


def test_registry_ids_must_be_plain_names(keys_dir: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["signers"][0]["id"] = "../../x"

    _edit_registry(keys_dir, edit)
    with pytest.raises(CorruptKeyFile, match="invalid key id"):
        load_registry(keys_dir)


def test_cli_reports_a_confinement_breach_in_one_line(
    keys_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from api.cli import main

    _edit_registry(keys_dir, _crl_file("/etc/shadow"))
    assert main(["keys", "list"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"permit: error: key registry names '/etc/shadow', outside the keys folder "
        f"{keys_dir}: refused\n"
    )
