"""What the issuing office needs to personalise and verify cards: keys and trust."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.card.scp03 import KeyProvider
from keys.trust import TrustList

if TYPE_CHECKING:
    from keys.pki import KeyManager

__all__ = ["IssuerContext"]


@dataclass(frozen=True)
class IssuerContext:
    """SCP03 key provider (per-card keys), the document signer and the trust list."""

    key_provider: KeyProvider
    signer_key: ec.EllipticCurvePrivateKey
    signer_chain: Sequence[x509.Certificate]
    trust: TrustList
    actor: str = "issuer"

    def __repr__(self) -> str:
        return f"IssuerContext(actor={self.actor!r})"

    @classmethod
    def from_key_manager(
        cls, manager: KeyManager, now: dt.datetime, actor: str = "issuer"
    ) -> IssuerContext:
        """Keys from the configured store, as ``permit record sample`` gets them."""
        from keys.signer import StoreEcPrivateKey
        from keys.store import Algorithm, KeyHandle

        manager.root(now)
        signer = manager.current_signer(now)
        if signer.algorithm is not Algorithm.ECDSA_P256:
            raise ValueError(f"records are signed with ES256; signer {signer.id} is not P-256")
        handle = KeyHandle(manager.store.kind, signer.id, signer.algorithm)
        key = StoreEcPrivateKey(manager.store, handle)
        chain = [manager.certificate(signer.cert_file)]
        trust = manager.trust_list()  # every root, link and root CRL (rollover)
        return cls(manager.scp03_key_provider(), key, chain, trust, actor)
