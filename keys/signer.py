"""A ``cryptography`` private-key object whose ``sign`` runs in a :class:`KeyStore`.

``x509.CertificateBuilder.sign`` and ``CertificateRevocationListBuilder.sign`` accept any
``ec.EllipticCurvePrivateKey``; this subclass delegates the signature to the store, so root
and signer certificates and CRLs are built the same way for files and HSMs, and the private
key never becomes a Python object for the PKCS#11 store.  The record signer gets one inside a
:class:`DocumentSigner` (``KeyManager.document_signer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .errors import UnsupportedAlgorithm
from .store import Algorithm, KeyHandle, KeyStore

__all__ = [
    "DocumentSigner",
    "StoreEcPrivateKey",
    "StoreEd25519PrivateKey",
    "store_private_key",
]


class StoreEcPrivateKey(ec.EllipticCurvePrivateKey):
    """An EC private key that lives in ``store`` (sign and public_key only)."""

    def __init__(self, store: KeyStore, handle: KeyHandle) -> None:
        curve = handle.algorithm.curve
        if curve is None:
            raise UnsupportedAlgorithm(f"{handle.algorithm.value} is not an ECDSA algorithm")
        self._store = store
        self._handle = handle
        self._curve = curve

    def __repr__(self) -> str:
        return f"StoreEcPrivateKey({self._handle.store}:{self._handle.key_id})"

    def sign(
        self,
        data: bytes | Any,
        signature_algorithm: ec.EllipticCurveSignatureAlgorithm,
    ) -> bytes:
        algorithm = getattr(signature_algorithm, "algorithm", None)
        expected = self._handle.algorithm.hash
        if (
            not isinstance(signature_algorithm, ec.ECDSA)
            or not isinstance(algorithm, hashes.HashAlgorithm)
            or expected is None
            or algorithm.name != expected.name
        ):
            raise UnsupportedAlgorithm(
                f"key {self._handle.key_id} signs only with {self._handle.algorithm.value}"
            )
        return self._store.sign(self._handle, bytes(data))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        public = self._store.public_key(self._handle)
        assert isinstance(public, ec.EllipticCurvePublicKey)
        return public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._curve

    @property
    def key_size(self) -> int:
        return self._curve.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> NoReturn:
        raise UnsupportedAlgorithm("store keys are for signing only")

    def private_numbers(self) -> NoReturn:
        raise UnsupportedAlgorithm("store keys cannot be exported")

    def private_bytes(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise UnsupportedAlgorithm("store keys cannot be exported")

    def __copy__(self) -> StoreEcPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> StoreEcPrivateKey:
        return self


class StoreEd25519PrivateKey(ed25519.Ed25519PrivateKey):
    """An Ed25519 private key that lives in ``store`` (sign and public_key only)."""

    def __init__(self, store: KeyStore, handle: KeyHandle) -> None:
        self._store = store
        self._handle = handle

    def __repr__(self) -> str:
        return f"StoreEd25519PrivateKey({self._handle.store}:{self._handle.key_id})"

    def sign(self, data: bytes | Any) -> bytes:
        return self._store.sign(self._handle, bytes(data))

    def public_key(self) -> ed25519.Ed25519PublicKey:
        public = self._store.public_key(self._handle)
        assert isinstance(public, ed25519.Ed25519PublicKey)
        return public

    def private_bytes(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise UnsupportedAlgorithm("store keys cannot be exported")

    def private_bytes_raw(self) -> NoReturn:
        raise UnsupportedAlgorithm("store keys cannot be exported")

    def __copy__(self) -> StoreEd25519PrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> StoreEd25519PrivateKey:
        return self


def store_private_key(
    store: KeyStore, handle: KeyHandle
) -> StoreEcPrivateKey | StoreEd25519PrivateKey:
    """The ``cryptography`` private-key object for ``handle`` (for x509 builders)."""
    if handle.algorithm is Algorithm.ED25519:
        return StoreEd25519PrivateKey(store, handle)
    return StoreEcPrivateKey(store, handle)


@dataclass(frozen=True)
class DocumentSigner:
    """The current document signer as the record signer needs it (ES256, P-256).

    ``key`` signs in the store (the private key never leaves it); ``chain`` is the
    certificate chain, leaf first (the leaf alone today: roots and link certificates reach
    verifiers in the trust list).  The repr names the signer, never key material.
    """

    signer_id: str
    key: StoreEcPrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def certificate(self) -> x509.Certificate:
        """The signer's own certificate (the leaf of ``chain``)."""
        return self.chain[0]

    def __repr__(self) -> str:
        return f"DocumentSigner({self.signer_id!r})"
