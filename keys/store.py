"""The one key-store interface used by the rest of permit.

A :class:`KeyStore` holds two kinds of secret, and never hands either out:

* asymmetric signing keys (root and document signers), addressed by a :class:`KeyHandle`:
  :meth:`KeyStore.sign` returns the finished signature (DER ECDSA, or raw Ed25519);
* AES-128 issuer master keys, addressed by key version (KVN): :meth:`KeyStore.cmac` computes
  AES-CMAC *inside* the store, which is all the card-key KDF (:mod:`keys.diversify`) needs.

Backends: :class:`keys.file_store.FileKeyStore` (encrypted files) and
:class:`keys.pkcs11_store.Pkcs11KeyStore` (an HSM).  :func:`open_store` picks one from the
settings.  The design follows pyHanko's single ``Signer`` interface: callers never know where
a key lives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .errors import UnsupportedAlgorithm

if TYPE_CHECKING:
    from .config import KeySettings

__all__ = [
    "MASTER_KEY_LENGTH",
    "Algorithm",
    "KeyHandle",
    "KeyStore",
    "SigningPublicKey",
    "master_key_id",
    "open_store",
]

#: AES-128, as the card application requires (``wire.KEY_LENGTH``).
MASTER_KEY_LENGTH = 16

SigningPublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class Algorithm(StrEnum):
    """Signature algorithms of root and document-signer keys."""

    ECDSA_P256 = "ecdsa-p256-sha256"
    ECDSA_P384 = "ecdsa-p384-sha384"
    ED25519 = "ed25519"

    @property
    def curve(self) -> ec.EllipticCurve | None:
        return {
            Algorithm.ECDSA_P256: ec.SECP256R1(),
            Algorithm.ECDSA_P384: ec.SECP384R1(),
        }.get(self)

    @property
    def hash(self) -> hashes.HashAlgorithm | None:
        """The hash signed with (``None`` for Ed25519, which hashes internally)."""
        if self is Algorithm.ECDSA_P256:
            return hashes.SHA256()
        if self is Algorithm.ECDSA_P384:
            return hashes.SHA384()
        return None

    def digest(self, data: bytes) -> bytes:
        if self is Algorithm.ECDSA_P256:
            return hashlib.sha256(data).digest()
        if self is Algorithm.ECDSA_P384:
            return hashlib.sha384(data).digest()
        raise UnsupportedAlgorithm(f"{self.value} signs the message, not a digest")

    @classmethod
    def parse(cls, name: str) -> Algorithm:
        aliases = {
            "p256": cls.ECDSA_P256,
            "p-256": cls.ECDSA_P256,
            "p384": cls.ECDSA_P384,
            "p-384": cls.ECDSA_P384,
        }
        try:
            return aliases.get(name.lower()) or cls(name.lower())
        except ValueError:
            raise UnsupportedAlgorithm(f"unknown algorithm {name!r}") from None


@dataclass(frozen=True)
class KeyHandle:
    """A reference to a signing key in a store (no key material)."""

    store: str
    key_id: str
    algorithm: Algorithm


def master_key_id(kvn: int) -> str:
    """The id of issuer master key version ``kvn`` in every store (``mk-001``)."""
    return f"mk-{kvn:03d}"


@runtime_checkable
class KeyStore(Protocol):
    """Signing keys and AES master keys that never leave the store."""

    #: ``"file"`` or ``"pkcs11"``.
    kind: str

    def check(self) -> None:
        """Prove the store opens (passphrase / token / PIN) without changing anything."""

    def generate_signing_key(self, key_id: str, algorithm: Algorithm) -> KeyHandle:
        """Create a new private key, non-extractable where the store supports it."""

    def signing_key(self, key_id: str, algorithm: Algorithm) -> KeyHandle:
        """The handle of an existing key (raises ``UnknownKey`` if it is missing)."""

    def sign(self, handle: KeyHandle, data: bytes) -> bytes:
        """Sign ``data``: DER ECDSA over SHA-256/384 of ``data``, or a raw Ed25519 signature."""

    def public_key(self, handle: KeyHandle) -> SigningPublicKey:
        """The public half of the key."""

    def generate_master_key(self, kvn: int) -> None:
        """Create AES-128 issuer master key version ``kvn`` (non-extractable)."""

    def has_master_key(self, kvn: int) -> bool:
        """Whether master key version ``kvn`` exists."""

    def cmac(self, kvn: int, data: bytes) -> bytes:
        """AES-CMAC (16 bytes) of ``data`` under master key ``kvn``, computed in the store."""

    def delete(self, key_id: str) -> None:
        """Remove a key (used only to roll back a failed operation)."""

    def close(self) -> None:
        """Release sessions and cached key objects."""


def open_store(settings: KeySettings) -> KeyStore:
    """Open the store the settings name.  The PKCS#11 backend is imported only here."""
    if settings.store == "pkcs11":
        from .pkcs11_store import Pkcs11KeyStore

        assert settings.pkcs11_module is not None and settings.pkcs11_token is not None
        return Pkcs11KeyStore(settings.pkcs11_module, settings.pkcs11_token, settings.pin())
    from .file_store import FileKeyStore

    return FileKeyStore(settings.directory / "private", settings.passphrase())
