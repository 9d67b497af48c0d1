"""An in-memory PKI for tests, benchmarks and demos.

It issues the *same* certificate and CRL profiles as the issuing authority (it calls
:mod:`keys.profiles`), with keys that live only in memory, so a record signed here verifies
with :mod:`keys.trust` exactly like one signed with ``permit keys``.  Never use it to issue
real permits: ``permit record sample`` uses the configured key store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from keys.profiles import (
    DAY,
    STATUS_SIGNER_GRACE,
    PkiPolicy,
    RevokedEntry,
    build_crl,
    build_root_certificate,
    build_signer_certificate,
    build_status_signer_certificate,
)
from keys.store import Algorithm, KeyHandle, SigningPublicKey
from keys.trust import TrustList

__all__ = ["EphemeralPki", "EphemeralSigner"]


class _MemoryStore:
    """The part of :class:`keys.store.KeyStore` the certificate builders use."""

    kind = "memory"

    def __init__(self) -> None:
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}

    def check(self) -> None:
        return None

    def generate_signing_key(self, key_id: str, algorithm: Algorithm) -> KeyHandle:
        self._keys[key_id] = ec.generate_private_key(ec.SECP256R1())
        return KeyHandle(self.kind, key_id, Algorithm.ECDSA_P256)

    def signing_key(self, key_id: str, algorithm: Algorithm) -> KeyHandle:
        return KeyHandle(self.kind, key_id, Algorithm.ECDSA_P256)

    def sign(self, handle: KeyHandle, data: bytes) -> bytes:
        return self._keys[handle.key_id].sign(data, ec.ECDSA(hashes.SHA256()))

    def public_key(self, handle: KeyHandle) -> SigningPublicKey:
        return self._keys[handle.key_id].public_key()

    def generate_master_key(self, kvn: int) -> None:
        raise NotImplementedError

    def has_master_key(self, kvn: int) -> bool:
        return False

    def cmac(self, kvn: int, data: bytes) -> bytes:
        raise NotImplementedError

    def delete(self, key_id: str) -> None:
        self._keys.pop(key_id, None)

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class EphemeralSigner:
    """A document or status-list signer: its private key and its chain (signer first)."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]


@dataclass
class EphemeralPki:
    """A root, its document and status-list signers and CRL, all in memory."""

    policy: PkiPolicy
    root_certificate: x509.Certificate
    _store: _MemoryStore
    _root: KeyHandle
    _seq: int = 0
    revoked: list[RevokedEntry] = field(default_factory=list)

    @classmethod
    def create(cls, now: dt.datetime, policy: PkiPolicy | None = None) -> EphemeralPki:
        policy = policy or PkiPolicy(city="Test City", organisation="Test Authority")
        store = _MemoryStore()
        root = store.generate_signing_key("root", Algorithm.ECDSA_P256)
        cert = build_root_certificate(store, root, policy, now)
        return cls(policy, cert, store, root)

    def new_signer(
        self,
        now: dt.datetime,
        *,
        signing_days: int | None = None,
        validity_days: int | None = None,
    ) -> EphemeralSigner:
        """A signer certified at ``now`` (window and validity as the policy, or given)."""
        self._seq += 1
        key = ec.generate_private_key(ec.SECP256R1())
        window = (signing_days or self.policy.signing_window_days) * DAY
        not_after = now + (
            validity_days * DAY
            if validity_days is not None
            else window + self.policy.permit_validity_days * DAY
        )
        cert = build_signer_certificate(
            self._store,
            self._root,
            self.root_certificate,
            key.public_key(),
            self.policy,
            self._seq,
            now,
            min(now + window, not_after),
            not_after,
        )
        return EphemeralSigner(key, (cert,))

    def new_status_signer(
        self, now: dt.datetime, *, signing_days: int | None = None
    ) -> EphemeralSigner:
        """A status-list signer certified at ``now`` (EKU status-list signing), with the
        profile ``permit keys`` gives it: the signing window plus the 30-day grace."""
        self._seq += 1
        key = ec.generate_private_key(ec.SECP256R1())
        window = (signing_days or self.policy.signing_window_days) * DAY
        cert = build_status_signer_certificate(
            self._store,
            self._root,
            self.root_certificate,
            key.public_key(),
            self.policy,
            self._seq,
            now,
            now + window,
            now + window + STATUS_SIGNER_GRACE,
        )
        return EphemeralSigner(key, (cert,))

    def revoke(self, signer: EphemeralSigner, now: dt.datetime) -> None:
        self.revoked.append(
            RevokedEntry(signer.certificate.serial_number, now, x509.ReasonFlags.key_compromise)
        )

    def crl(self, now: dt.datetime) -> x509.CertificateRevocationList:
        return build_crl(
            self._store,
            self._root,
            self.root_certificate,
            list(self.revoked),
            len(self.revoked) + 1,
            now,
            self.policy,
        )

    def trust(self, now: dt.datetime) -> TrustList:
        """The trust list a verifier would load at ``now`` (root and a fresh CRL)."""
        return TrustList((self.root_certificate,), (self.crl(now),))
