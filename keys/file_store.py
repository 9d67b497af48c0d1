"""The embedded key store: encrypted files under ``$PERMIT_HOME/keys/private``.

* signing keys: ``<id>.p8.pem``, PKCS#8 encrypted with the passphrase
  (``BestAvailableEncryption``: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC);
* AES master keys: ``mk-<kvn>.key.json``, AES-256-GCM under a store key derived from the
  passphrase with scrypt, the key id as associated data;
* ``store.json``: the scrypt salt and parameters and a check value (AES-GCM of a constant),
  so a wrong passphrase is told apart from a corrupted key file before any key is touched.

Every file is 0600 and the directory 0700.  Keys are decrypted in memory only when used.

Every KDF parameter read from disk is bounded before any derivation runs: the scrypt
parameters of ``store.json`` here, the PBES2 parameters of each PKCS#8 file in
:mod:`keys.pkcs8` (a damaged or hostile file naming 2^31 PBKDF2 iterations is refused as
:class:`~keys.errors.CorruptKeyFile`, not run for hours).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, TypeGuard

from cryptography.exceptions import InvalidTag
from cryptography.exceptions import UnsupportedAlgorithm as CryptoUnsupported
from cryptography.hazmat.primitives import cmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import CorruptKeyFile, UnknownKey, UnsupportedAlgorithm, WrongPassphrase
from .fsutil import ensure_private_dir, write_private_file
from .pkcs8 import MAX_KEY_FILE, Pkcs8Error, checked_pkcs8_der
from .store import MASTER_KEY_LENGTH, Algorithm, KeyHandle, SigningPublicKey, master_key_id

__all__ = ["FileKeyStore"]

log = logging.getLogger(__name__)

_STORE_FORMAT = "permit-file-store-v1"
_MK_FORMAT = "permit-aes-key-v1"
_CHECK_PLAINTEXT = b"permit key store passphrase check"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
#: Bounds on the scrypt parameters read back from store.json: a corrupted or hostile file
#: must not make us allocate gigabytes or spin for hours before the passphrase check.
_SCRYPT_N_RANGE = (2**14, 2**22)
_SCRYPT_R_MAX = 32
_SCRYPT_P_MAX = 16
_SCRYPT_MAX_MEMORY = 2**30  # 128 * n * r bytes
_SALT_RANGE = (8, 64)
_NONCE_LENGTH = 12
_TAG_LENGTH = 16
_MAX_CIPHERTEXT = 4096

_PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _load_json(raw: bytes) -> Any:
    """``json.loads`` with every decode failure (deep nesting included) as ValueError."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool (JSON ``true`` is not a number)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _hex(value: object, min_len: int, max_len: int) -> bytes:
    """Bytes from a hex string of ``min_len``-``max_len`` bytes; ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError("not a hex string")
    raw = bytes.fromhex(value)
    if not min_len <= len(raw) <= max_len:
        raise ValueError("wrong length")
    return raw


def _scrypt_params(kdf: dict[str, Any]) -> tuple[int, int, int]:
    """(n, r, p) from the ``kdf`` object, within bounds; ValueError otherwise."""
    n, r, p = kdf.get("n"), kdf.get("r"), kdf.get("p")
    if not (_is_int(n) and _is_int(r) and _is_int(p)):
        raise ValueError("scrypt parameters must be integers")
    if not (
        _SCRYPT_N_RANGE[0] <= n <= _SCRYPT_N_RANGE[1]
        and n & (n - 1) == 0
        and 1 <= r <= _SCRYPT_R_MAX
        and 1 <= p <= _SCRYPT_P_MAX
        and 128 * n * r <= _SCRYPT_MAX_MEMORY
    ):
        raise ValueError("scrypt parameters out of bounds")
    return n, r, p


def _parse_meta(raw: bytes) -> tuple[bytes, int, int, int, bytes, bytes] | None:
    """(salt, n, r, p, check nonce, check ciphertext) of store.json; None if it is not valid."""
    try:
        meta = _load_json(raw)
        if not isinstance(meta, dict) or meta.get("format") != _STORE_FORMAT:
            return None
        kdf, check = meta.get("kdf"), meta.get("check")
        if not isinstance(kdf, dict) or not isinstance(check, dict):
            return None
        if kdf.get("name", "scrypt") != "scrypt":
            return None
        n, r, p = _scrypt_params(kdf)
        salt = _hex(kdf.get("salt"), *_SALT_RANGE)
        nonce = _hex(check.get("nonce"), _NONCE_LENGTH, _NONCE_LENGTH)
        ciphertext = _hex(check.get("ciphertext"), _TAG_LENGTH, _MAX_CIPHERTEXT)
    except ValueError:
        return None
    return salt, n, r, p, nonce, ciphertext


def _decrypt_pkcs8(der: bytes, passphrase: bytes) -> Any:
    """Run the (already bounded) PBES2 key derivation and decrypt the PKCS#8 DER.

    The DER is exactly the bytes :func:`~keys.pkcs8.checked_pkcs8_der` checked, so the parser
    that bounds the parameters and the one that uses them see the same structure.
    """
    return serialization.load_der_private_key(der, password=passphrase)


class FileKeyStore:
    """Keys in passphrase-encrypted files (see the module docstring for the layout)."""

    kind = "file"

    def __init__(self, directory: Path, passphrase: bytes) -> None:
        self.directory = directory
        self._passphrase = passphrase
        self._store_key: bytes | None = None
        self._signing: dict[str, _PrivateKey] = {}

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self.directory)!r})"

    # -- the store key --------------------------------------------------------------------

    @property
    def _meta_path(self) -> Path:
        return self.directory / "store.json"

    def _derive(self, salt: bytes, n: int, r: int, p: int) -> bytes:
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(self._passphrase)

    def _key(self, *, create: bool = False) -> bytes:
        """The AES-GCM store key; checks the passphrase (and creates store.json if asked)."""
        if self._store_key is not None and self._meta_path.exists():
            return self._store_key
        if not self._meta_path.exists():
            if not create:
                raise UnknownKey(f"no file key store in {self.directory}")
            salt = os.urandom(16)
            key = self._derive(salt, **_SCRYPT)
            nonce = os.urandom(12)
            meta = {
                "format": _STORE_FORMAT,
                "kdf": {"name": "scrypt", "salt": salt.hex(), **_SCRYPT},
                "check": {
                    "nonce": nonce.hex(),
                    "ciphertext": AESGCM(key).encrypt(nonce, _CHECK_PLAINTEXT, b"check").hex(),
                },
            }
            ensure_private_dir(self.directory)
            write_private_file(self._meta_path, json.dumps(meta, indent=1).encode(), exclusive=True)
            log.info("created file key store in %s", self.directory)
            self._store_key = key
            return key
        corrupted = CorruptKeyFile(f"key store file {self._meta_path.name} is corrupted")
        try:
            parsed = _parse_meta(self._meta_path.read_bytes())
        except OSError:
            raise corrupted from None
        if parsed is None:
            raise corrupted
        salt, n, r, p, nonce, check = parsed
        try:
            key = self._derive(salt, n, r, p)
        except (ValueError, MemoryError):
            raise corrupted from None
        try:
            ok = AESGCM(key).decrypt(nonce, check, b"check") == _CHECK_PLAINTEXT
        except InvalidTag:
            ok = False
        except ValueError:  # nonce or data length cryptography refuses: not our file
            raise corrupted from None
        if not ok:
            raise WrongPassphrase("wrong key-store passphrase (PERMIT_KEY_PASSPHRASE)")
        self._store_key = key
        return key

    def check(self) -> None:
        if self._meta_path.exists():
            self._key()

    # -- signing keys ---------------------------------------------------------------------

    def _key_path(self, key_id: str) -> Path:
        if not key_id or "/" in key_id or key_id.startswith("."):
            raise UnknownKey(f"invalid key id {key_id!r}")
        return self.directory / f"{key_id}.p8.pem"

    def generate_signing_key(self, key_id: str, algorithm: Algorithm) -> KeyHandle:
        self._key(create=True)
        path = self._key_path(key_id)
        private: _PrivateKey
        curve = algorithm.curve
        if curve is not None:
            private = ec.generate_private_key(curve)
        elif algorithm is Algorithm.ED25519:
            private = ed25519.Ed25519PrivateKey.generate()
        else:  # pragma: no cover - exhaustive
            raise UnsupportedAlgorithm(f"{algorithm.value} is not supported by the file store")
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )
        try:
            write_private_file(path, pem, exclusive=True)
        except FileExistsError:
            raise CorruptKeyFile(f"key file {path.name} already exists") from None
        self._signing[key_id] = private
        log.info("generated %s key %s in the file store", algorithm.value, key_id)
        return KeyHandle(self.kind, key_id, algorithm)

    def signing_key(self, key_id: str, algorithm: Algorithm) -> KeyHandle:
        if not self._key_path(key_id).exists():
            raise UnknownKey(f"no key {key_id} in the file store")
        return KeyHandle(self.kind, key_id, algorithm)

    def _load(self, handle: KeyHandle) -> _PrivateKey:
        cached = self._signing.get(handle.key_id)
        if cached is not None:
            return cached
        self._key()  # a wrong passphrase is reported as such, not as corruption
        path = self._key_path(handle.key_id)
        corrupted = CorruptKeyFile(f"key file {path.name} is corrupted or unreadable")
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_KEY_FILE + 1)
        except FileNotFoundError:
            raise UnknownKey(f"no key {handle.key_id} in the file store") from None
        except OSError:
            raise corrupted from None
        try:
            # parameters bounded first: a hostile file never reaches the KDF
            der = checked_pkcs8_der(data)
        except Pkcs8Error as exc:
            raise CorruptKeyFile(f"key file {path.name} is corrupted: {exc}") from None
        try:
            private = _decrypt_pkcs8(der, self._passphrase)
        except (ValueError, TypeError, CryptoUnsupported):
            raise corrupted from None
        if not isinstance(private, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise CorruptKeyFile(f"key file {path.name} holds an unexpected key type")
        self._signing[handle.key_id] = private
        return private

    def sign(self, handle: KeyHandle, data: bytes) -> bytes:
        private = self._load(handle)
        if isinstance(private, ed25519.Ed25519PrivateKey):
            return private.sign(data)
        algo = handle.algorithm.hash
        if algo is None:
            raise UnsupportedAlgorithm(f"key {handle.key_id} is not an ECDSA key")
        return private.sign(data, ec.ECDSA(algo))

    def public_key(self, handle: KeyHandle) -> SigningPublicKey:
        return self._load(handle).public_key()

    # -- master keys ----------------------------------------------------------------------

    def _mk_path(self, kvn: int) -> Path:
        return self.directory / f"{master_key_id(kvn)}.key.json"

    def _write_master_key(self, kvn: int, raw: bytes) -> None:
        """Encrypt and store ``raw`` (tests import known keys through this private path)."""
        key = self._key(create=True)
        nonce = os.urandom(12)
        key_id = master_key_id(kvn)
        doc = {
            "format": _MK_FORMAT,
            "kvn": kvn,
            "nonce": nonce.hex(),
            "ciphertext": AESGCM(key).encrypt(nonce, raw, key_id.encode()).hex(),
        }
        path = self._mk_path(kvn)
        try:
            write_private_file(path, json.dumps(doc, indent=1).encode(), exclusive=True)
        except FileExistsError:
            raise CorruptKeyFile(f"key file {path.name} already exists") from None

    def generate_master_key(self, kvn: int) -> None:
        self._write_master_key(kvn, os.urandom(MASTER_KEY_LENGTH))
        log.info("generated issuer master key KVN %d in the file store", kvn)

    def has_master_key(self, kvn: int) -> bool:
        return self._mk_path(kvn).exists()

    def _master_key(self, kvn: int) -> bytes:
        key = self._key()
        path = self._mk_path(kvn)
        try:
            doc: Any = _load_json(path.read_bytes())
        except FileNotFoundError:
            raise UnknownKey(f"no issuer master key KVN {kvn} in the file store") from None
        except (OSError, ValueError):
            raise CorruptKeyFile(f"key file {path.name} is corrupted") from None
        try:
            if (
                not isinstance(doc, dict)
                or doc.get("format") != _MK_FORMAT
                or not _is_int(doc.get("kvn"))
                or doc["kvn"] != kvn
            ):
                raise ValueError("format")
            nonce = _hex(doc.get("nonce"), _NONCE_LENGTH, _NONCE_LENGTH)
            ciphertext = _hex(doc.get("ciphertext"), _TAG_LENGTH, _MAX_CIPHERTEXT)
            raw = AESGCM(key).decrypt(nonce, ciphertext, master_key_id(kvn).encode())
        except (KeyError, TypeError, ValueError, InvalidTag):
            raise CorruptKeyFile(f"key file {path.name} is corrupted") from None
        if len(raw) != MASTER_KEY_LENGTH:
            raise CorruptKeyFile(f"key file {path.name} holds a key of the wrong length")
        return raw

    def cmac(self, kvn: int, data: bytes) -> bytes:
        mac = cmac.CMAC(algorithms.AES(self._master_key(kvn)))
        mac.update(data)
        return mac.finalize()

    # -- housekeeping ---------------------------------------------------------------------

    def delete(self, key_id: str) -> None:
        self._signing.pop(key_id, None)
        for path in (self._key_path(key_id), self.directory / f"{key_id}.key.json"):
            if path.exists():
                path.unlink()
                log.info("deleted key %s from the file store", key_id)

    def close(self) -> None:
        self._signing.clear()
        self._store_key = None
