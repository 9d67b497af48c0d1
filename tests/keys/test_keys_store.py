"""The KeyStore interface: the same behaviour through the file store and SoftHSM2."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import cmac, hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers import algorithms

from keys.config import KeySettings, load_settings
from keys.diversify import CardStaticKeys, derive_card_keys, kdf_input
from keys.errors import UnknownKey
from keys.store import Algorithm, KeyStore, open_store

from .conftest import SoftHsm, file_env, import_master_key, pkcs11_env

MASTER = bytes.fromhex("404142434445464748494a4b4c4d4e4f")
SERIAL = bytes.fromhex("0102030405060708")


def reference_kdf(key: bytes, constant: int, bits: int, context: bytes) -> bytes:
    """Independent SCP03 KDF straight from docs/card-application.md 6.1."""
    out = b""
    i = 1
    while len(out) * 8 < bits:
        block = b"\x00" * 11 + bytes([constant]) + b"\x00" + bits.to_bytes(2, "big")
        block += bytes([i]) + context
        c = cmac.CMAC(algorithms.AES(key))
        c.update(block)
        out += c.finalize()
        i += 1
    return out[: bits // 8]


@pytest.fixture
def store(settings: KeySettings) -> Iterator[KeyStore]:
    s = open_store(settings)
    yield s
    s.close()


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_sign_verifies_with_public_key(store: KeyStore, algorithm: Algorithm) -> None:
    handle = store.generate_signing_key("ds-test", algorithm)
    signature = store.sign(handle, b"permit record")
    public = store.public_key(handle)
    if algorithm is Algorithm.ED25519:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, b"permit record")
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert algorithm.curve is not None and algorithm.hash is not None
        assert public.curve.name == algorithm.curve.name
        public.verify(signature, b"permit record", ec.ECDSA(algorithm.hash))
    with pytest.raises(InvalidSignature):
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, b"permit record!")
        else:
            public.verify(signature, b"permit record!", ec.ECDSA(hashes.SHA256()))
    assert store.signing_key("ds-test", algorithm) == handle
    with pytest.raises(UnknownKey):
        store.signing_key("ds-missing", algorithm)


def test_importing_keys_does_not_import_pkcs11() -> None:
    code = "import keys, keys.pki, keys.trust, api.cli.keys, sys; print('pkcs11' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cmac_and_kdf_layout_match_reference(store: KeyStore) -> None:
    import_master_key(store, 3, MASTER)
    data = kdf_input(0x81, 128, 1, SERIAL + b"\x03")
    assert data == bytes(11) + b"\x81\x00\x00\x80\x01" + SERIAL + b"\x03"
    ref = cmac.CMAC(algorithms.AES(MASTER))
    ref.update(data)
    assert store.cmac(3, data) == ref.finalize()
    keys = derive_card_keys(store, 3, SERIAL)
    context = SERIAL + b"\x03"
    assert keys.enc == reference_kdf(MASTER, 0x81, 128, context)
    assert keys.mac == reference_kdf(MASTER, 0x82, 128, context)
    assert keys.dek == reference_kdf(MASTER, 0x83, 128, context)
    assert keys.kvn == 3
    assert len({keys.enc, keys.mac, keys.dek}) == 3


def test_derivation_matches_host_scp03_module(store: KeyStore) -> None:
    scp03 = pytest.importorskip("card_service.card.scp03")
    import_master_key(store, 1, MASTER)
    ours = derive_card_keys(store, 1, SERIAL)
    theirs = scp03.diversify_card_keys(MASTER, SERIAL, 1)
    assert (ours.enc, ours.mac, ours.dek) == (theirs.enc, theirs.mac, theirs.dek)


def test_generated_master_key_derives_and_repr_hides_keys(store: KeyStore) -> None:
    assert not store.has_master_key(1)
    store.generate_master_key(1)
    assert store.has_master_key(1)
    keys = derive_card_keys(store, 1, SERIAL)
    assert keys == derive_card_keys(store, 1, SERIAL)
    assert keys != derive_card_keys(store, 1, bytes(8))
    text = repr(keys) + str(keys)
    for secret in (keys.enc, keys.mac, keys.dek):
        assert secret.hex() not in text.lower()
    assert isinstance(keys, CardStaticKeys)
    with pytest.raises(UnknownKey):
        store.cmac(2, b"x")
    with pytest.raises(ValueError):
        derive_card_keys(store, 1, b"short")


def test_file_store_modes(tmp_path: Path) -> None:
    settings = load_settings(file_env(tmp_path))
    s = open_store(settings)
    s.generate_signing_key("ds-x", Algorithm.ECDSA_P256)
    s.generate_master_key(1)
    directory = settings.directory / "private"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["ds-x.p8.pem", "mk-001.key.json", "store.json"]
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    pem = (directory / "ds-x.p8.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem


def test_pkcs11_keys_are_non_extractable(tmp_path: Path, softhsm: SoftHsm) -> None:
    from pkcs11 import Attribute, ObjectClass

    settings = load_settings(pkcs11_env(tmp_path, softhsm, softhsm.new_token()))
    s = open_store(settings)
    s.generate_signing_key("ds-x", Algorithm.ECDSA_P256)
    s.generate_master_key(1)
    session = s._open()  # type: ignore[attr-defined]
    for label, cls in (("ds-x", ObjectClass.PRIVATE_KEY), ("mk-001", ObjectClass.SECRET_KEY)):
        key = session.get_key(object_class=cls, label=label)
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.TOKEN] is True
    s.close()
    # nothing but the registry would live on disk for an HSM store
    assert not (settings.directory / "private").exists()


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_pkcs11_signing_keys_cannot_derive(
    tmp_path: Path, softhsm: SoftHsm, algorithm: Algorithm
) -> None:
    """Security review: signing keys sign, nothing else (no ECDH via CKA_DERIVE, no
    decrypt/unwrap); the AES master key MACs (CKM_AES_CMAC, i.e. CKA_SIGN) and derives nothing
    through C_DeriveKey either."""
    from pkcs11 import Attribute, ObjectClass

    settings = load_settings(pkcs11_env(tmp_path, softhsm, softhsm.new_token()))
    s = open_store(settings)
    s.generate_signing_key("ds-x", algorithm)
    s.generate_master_key(1)
    session = s._open()  # type: ignore[attr-defined]
    private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="ds-x")
    assert private[Attribute.SIGN] is True
    for attribute in (Attribute.DERIVE, Attribute.DECRYPT, Attribute.UNWRAP):
        assert private[attribute] is False, attribute
    public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label="ds-x")
    assert public[Attribute.DERIVE] is False
    master = session.get_key(object_class=ObjectClass.SECRET_KEY, label="mk-001")
    assert master[Attribute.SIGN] is True and master[Attribute.DERIVE] is False
    assert len(s.cmac(1, b"x")) == 16
    assert s.sign(s.signing_key("ds-x", algorithm), b"message")
    s.close()


def test_same_signature_verifies_across_stores(tmp_path: Path, softhsm: SoftHsm) -> None:
    """A message signed in either store verifies with the same cryptography call."""
    stores = [
        open_store(load_settings(file_env(tmp_path / "f"))),
        open_store(load_settings(pkcs11_env(tmp_path / "p", softhsm, softhsm.new_token()))),
    ]
    message = os.urandom(100)
    for s in stores:
        h = s.generate_signing_key("ds-cross", Algorithm.ECDSA_P256)
        sig = s.sign(h, message)
        pub = s.public_key(h)
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(sig, message, ec.ECDSA(hashes.SHA256()))
        s.close()
