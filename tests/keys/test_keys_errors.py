"""Bad input: typed one-line errors, non-zero exits, nothing changed on disk, no secrets."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keys import profiles
from keys.config import load_settings
from keys.errors import (
    ConfigError,
    CorruptKeyFile,
    KeysExist,
    KeyStoreError,
    RootExpired,
    TokenLocked,
    TokenNotFound,
    WrongPassphrase,
    WrongPin,
)
from keys.pki import KeyManager
from keys.profiles import PkiPolicy
from keys.store import open_store

from .conftest import NOW, PASSPHRASE, USER_PIN, SoftHsm, file_env, pkcs11_env, tree_digest

DAY = dt.timedelta(days=1)
SERIAL = bytes(range(8))


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text, repr(text)
    return text


def assert_unchanged_after(home: Path, exc_type: type[Exception], action: object) -> str:
    before = tree_digest(home)
    with pytest.raises(exc_type) as info:
        action()  # type: ignore[operator]
    assert tree_digest(home) == before
    return one_line(info.value)


def test_wrong_passphrase(tmp_path: Path) -> None:
    env = file_env(tmp_path)
    with KeyManager(load_settings(env)) as m:
        m.init(NOW)
    wrong = load_settings({**env, "PERMIT_KEY_PASSPHRASE": "not the right passphrase"})
    for action in (
        lambda: KeyManager(wrong).rotate_signer(NOW + DAY),
        lambda: KeyManager(wrong).sign(b"x", NOW),
        lambda: KeyManager(wrong).card_keys(SERIAL),
        lambda: KeyManager(wrong).revoke_signer("ds-0001", "superseded", NOW),
        lambda: KeyManager(wrong).rotate_master_key(NOW),
    ):
        text = assert_unchanged_after(tmp_path, WrongPassphrase, action)
        assert "passphrase" in text and "not the right" not in text
    # listing needs no passphrase
    assert KeyManager(wrong).describe(NOW)["signers"][0]["id"] == "ds-0001"


@pytest.mark.parametrize(
    "value", ["", "change-me", "CHANGE ME", "password", "qwx7"], ids=lambda v: v or "empty"
)
def test_weak_passphrase_refused(tmp_path: Path, value: str) -> None:
    settings = load_settings({**file_env(tmp_path), "PERMIT_KEY_PASSPHRASE": value})
    text = assert_unchanged_after(tmp_path, ConfigError, lambda: KeyManager(settings).init(NOW))
    assert not value or value not in text


def test_passphrase_file(tmp_path: Path) -> None:
    secret = tmp_path / "pass"
    secret.write_text(PASSPHRASE + "\n")
    env = {"PERMIT_HOME": str(tmp_path / "h"), "PERMIT_KEY_PASSPHRASE_FILE": str(secret)}
    with KeyManager(load_settings(env)) as m:
        m.init(NOW)
    bad = {"PERMIT_HOME": str(tmp_path / "h"), "PERMIT_KEY_PASSPHRASE_FILE": "/nonexistent/p"}
    with pytest.raises(ConfigError, match="PERMIT_KEY_PASSPHRASE_FILE"):
        KeyManager(load_settings(bad)).sign(b"x", NOW)


@pytest.mark.parametrize("name", ["PERMIT_KEY_PASSPHRASE", "PERMIT_PKCS11_PIN"])
def test_secret_file_not_utf8(tmp_path: Path, name: str) -> None:
    """A secret file that is not UTF-8: one-line ConfigError naming the variable, no bytes."""
    secret = tmp_path / "secret"
    secret.write_bytes(b"caf\xe9 au lait \xff\xfe passphrase")
    settings = load_settings({"PERMIT_HOME": str(tmp_path / "h"), f"{name}_FILE": str(secret)})
    read = settings.passphrase if name == "PERMIT_KEY_PASSPHRASE" else settings.pin
    with pytest.raises(ConfigError) as info:
        read()
    text = one_line(info.value)
    assert f"{name}_FILE" in text and "UTF-8" in text
    assert "caf" not in text and "lait" not in text and "\\x" not in text


@pytest.mark.parametrize(
    "target",
    [
        "private/ds-0001.p8.pem",
        "private/mk-001.key.json",
        "private/store.json",
        "registry.json",
        "certs/root-01.pem",
    ],
)
def test_corrupted_files(tmp_path: Path, target: str) -> None:
    env = file_env(tmp_path)
    with KeyManager(load_settings(env)) as m:
        m.init(NOW)
    path = tmp_path / "keys" / target
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    data[len(data) // 2 + 1] ^= 0x55
    path.write_bytes(bytes(data))

    def use() -> None:
        with KeyManager(load_settings(env)) as m2:
            m2.sign(b"x", NOW)
            m2.card_keys(SERIAL)
            m2.rotate_signer(NOW + DAY)

    text = assert_unchanged_after(tmp_path, CorruptKeyFile, use)
    assert "corrupted" in text or "missing" in text


def test_init_refuses_to_overwrite(initialised: KeyManager) -> None:
    home = initialised.directory.parent
    text = assert_unchanged_after(home, KeysExist, lambda: initialised.init(NOW))
    assert "refusing" in text
    again = KeyManager(initialised.settings)
    assert_unchanged_after(home, KeysExist, lambda: again.init(NOW + DAY))


def test_init_refuses_keys_left_in_store(initialised: KeyManager) -> None:
    """A lost registry does not let ``init`` overwrite (or roll back) keys in the store."""
    (initialised.directory / "registry.json").unlink()
    home = initialised.directory.parent
    with KeyManager(initialised.settings) as again:
        assert "already exist" in assert_unchanged_after(home, KeysExist, lambda: again.init(NOW))
        assert again.store.has_master_key(1)
        again.store.signing_key("root-01", initialised.registry.policy.algorithm)


def test_init_rolls_back_on_failure(manager: KeyManager, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyStoreError("simulated failure while signing the CRL")

    monkeypatch.setattr("keys.crls.build_crl", boom)
    home = manager.directory.parent
    with pytest.raises(KeyStoreError, match="simulated"):
        manager.init(NOW)
    assert not manager.directory.exists()
    monkeypatch.undo()
    # the store holds nothing left over: a clean init succeeds afterwards
    with KeyManager(manager.settings) as again:
        again.init(NOW)
    assert (home / "keys" / "registry.json").exists()


def test_expired_root(manager: KeyManager) -> None:
    manager.init(NOW, PkiPolicy(root_validity_days=30, crl_validity_days=10))
    home = manager.directory.parent
    late = NOW + 31 * DAY
    for action in (
        lambda: manager.rotate_signer(late),
        lambda: manager.sign(b"x", late),
        lambda: manager.refresh_crl(late, force=True),
        lambda: manager.revoke_signer("ds-0001", "superseded", late),
    ):
        assert "root-01" in assert_unchanged_after(home, RootExpired, action)


def test_missing_token_and_module(tmp_path: Path, softhsm: SoftHsm) -> None:
    env = pkcs11_env(tmp_path, softhsm, "no-such-token")
    text = assert_unchanged_after(
        tmp_path, TokenNotFound, lambda: KeyManager(load_settings(env)).init(NOW)
    )
    assert "no-such-token" in text
    env = {**env, "PERMIT_PKCS11_MODULE": str(tmp_path / "missing.so")}
    assert_unchanged_after(
        tmp_path, TokenNotFound, lambda: KeyManager(load_settings(env)).init(NOW)
    )


def test_wrong_pin(tmp_path: Path, softhsm: SoftHsm) -> None:
    label = softhsm.new_token()
    env = pkcs11_env(tmp_path, softhsm, label)
    with KeyManager(load_settings(env)) as m:
        m.init(NOW)
    bad = load_settings({**env, "PERMIT_PKCS11_PIN": "999999"})
    for action in (
        lambda: KeyManager(bad).sign(b"x", NOW),
        lambda: KeyManager(bad).rotate_signer(NOW + DAY),
        lambda: KeyManager(bad).card_keys(SERIAL),
    ):
        text = assert_unchanged_after(tmp_path, WrongPin, action)
        assert "999999" not in text and USER_PIN not in text
    with pytest.raises(ConfigError, match="PIN"):
        KeyManager(load_settings({**env, "PERMIT_PKCS11_PIN": ""})).sign(b"x", NOW)


def test_locked_pin_maps_to_token_locked() -> None:
    from pkcs11 import exceptions as p11

    from keys.pkcs11_store import _hsm_error

    assert isinstance(_hsm_error("opening", p11.PinLocked()), TokenLocked)
    assert isinstance(_hsm_error("opening", p11.PinIncorrect()), WrongPin)


def test_bad_store_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PERMIT_KEY_STORE"):
        load_settings({"PERMIT_HOME": str(tmp_path), "PERMIT_KEY_STORE": "cloud"})
    with pytest.raises(ConfigError, match="PERMIT_PKCS11_MODULE"):
        load_settings({"PERMIT_HOME": str(tmp_path), "PERMIT_KEY_STORE": "pkcs11"})


def test_no_secrets_in_logs_or_errors(
    tmp_path: Path, softhsm: SoftHsm, caplog: pytest.LogCaptureFixture
) -> None:
    """Run every flow with logging at level 1 and search logs, errors and reprs for secrets."""
    caplog.set_level(1)
    texts: list[str] = []

    def expect_error(action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except (KeyStoreError, ValueError) as exc:
            texts.extend([str(exc), repr(exc)])
        else:  # pragma: no cover
            raise AssertionError("expected an error")

    file_settings = load_settings(file_env(tmp_path / "f"))
    label = softhsm.new_token()
    hsm_env = pkcs11_env(tmp_path / "p", softhsm, label)
    hsm_settings = load_settings(hsm_env)
    derived: list[bytes] = []
    for settings in (file_settings, hsm_settings):
        with KeyManager(settings) as m:
            m.init(NOW)
            m.sign(b"x", NOW)
            m.sign(b"y", NOW + 100 * DAY)
            m.sign_audit(b"checkpoint", NOW)
            m.revoke_signer("ds-0001", "key-compromise", NOW + 100 * DAY)
            m.rotate_master_key(NOW + 100 * DAY)
            m.sign_audit(b"checkpoint", NOW + 400 * DAY)  # rotates to audit-0002
            m.rotate_audit_signer(NOW + 400 * DAY)
            m.revoke_signer("audit-0001", "key-compromise", NOW + 400 * DAY)
            m.export_trust(tmp_path / f"trust-{settings.store}", NOW + 400 * DAY)
            for kvn in (1, 2):
                k = m.card_keys(SERIAL, kvn)
                derived += [k.enc, k.mac, k.dek]
                texts += [repr(k), str(k)]
            texts += [repr(m.store), repr(settings), str(m.describe(NOW))]
    f_env = file_env(tmp_path / "f")
    expect_error(
        lambda: KeyManager(load_settings({**f_env, "PERMIT_KEY_PASSPHRASE": "x" * 20})).sign(
            b"x", NOW
        )
    )
    expect_error(
        lambda: KeyManager(load_settings({**hsm_env, "PERMIT_PKCS11_PIN": "13579"})).sign(b"x", NOW)
    )
    expect_error(
        lambda: KeyManager(load_settings({**f_env, "PERMIT_KEY_PASSPHRASE": "change-me"})).sign(
            b"x", NOW
        )
    )
    expect_error(lambda: KeyManager(file_settings).init(NOW))

    # the file store's private keys (root, document and audit signers), decrypted here
    secrets: list[bytes] = list(derived)
    private_keys = sorted(p.name for p in (tmp_path / "f" / "keys" / "private").glob("*.p8.pem"))
    assert {"audit-0001.p8.pem", "audit-0003.p8.pem", "ds-0001.p8.pem"} <= set(private_keys)
    for pem in (tmp_path / "f" / "keys" / "private").glob("*.p8.pem"):
        key = serialization.load_pem_private_key(pem.read_bytes(), PASSPHRASE.encode())
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        secrets.append(key.private_numbers().private_value.to_bytes(32, "big"))
        secrets.append(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    store = open_store(file_settings)
    for kvn in (1, 2):
        secrets.append(store._master_key(kvn))  # type: ignore[attr-defined]
    store.close()

    haystack = "\n".join([caplog.text, *texts, *(r.getMessage() for r in caplog.records)])
    assert caplog.records, "logging produced nothing at level 1"
    assert PASSPHRASE not in haystack and USER_PIN not in haystack
    assert "13579" not in haystack and "x" * 20 not in haystack
    lowered = haystack.lower()
    for secret in secrets:
        assert secret.hex() not in lowered
        assert secret.hex()[:16] not in lowered
        assert secret.decode("latin-1") not in haystack
    logging.getLogger(profiles.__name__).debug("sanity: captured")
    assert "sanity: captured" in caplog.text


def test_pin_file(tmp_path: Path, softhsm: SoftHsm) -> None:
    env = pkcs11_env(tmp_path, softhsm, softhsm.new_token())
    del env["PERMIT_PKCS11_PIN"]
    pin_file = tmp_path / "pin"
    pin_file.write_text(USER_PIN + "\n")
    env["PERMIT_PKCS11_PIN_FILE"] = str(pin_file)
    with KeyManager(load_settings(env)) as m:
        m.init(NOW)
        assert m.sign(b"x", NOW).signer_id == "ds-0001"
    pin_file.write_text("000000\n")
    assert_unchanged_after(
        tmp_path / "keys", WrongPin, lambda: KeyManager(load_settings(env)).sign(b"x", NOW)
    )
