"""What the issuing office needs to personalise and verify cards: keys and trust."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.card.scp03 import KeyProvider
from card_service.record.status_ref import DEFAULT_STATUS_URI
from keys.trust import TrustList

if TYPE_CHECKING:
    from keys.pki import KeyManager

__all__ = ["IssuerContext"]


@dataclass(frozen=True)
class IssuerContext:
    """SCP03 key provider (per-card keys), the document signer and the trust list;
    ``status_list_uri`` is the ``uri`` of every issued record's status reference (the
    office's ``PERMIT_STATUS_LIST_URI``)."""

    key_provider: KeyProvider
    signer_key: ec.EllipticCurvePrivateKey
    signer_chain: Sequence[x509.Certificate]
    trust: TrustList
    actor: str = "issuer"
    #: The key registry's id of the document signer ("ephemeral" for run-time keys).
    signer_id: str = "ephemeral"
    status_list_uri: str = DEFAULT_STATUS_URI

    def __repr__(self) -> str:
        return f"IssuerContext(actor={self.actor!r})"

    @classmethod
    def from_key_manager(
        cls,
        manager: KeyManager,
        now: dt.datetime,
        actor: str = "issuer",
        *,
        status_list_uri: str = DEFAULT_STATUS_URI,
    ) -> IssuerContext:
        """Keys from the configured store: the current document signer with its chain
        (``KeyManager.document_signer``: :class:`keys.errors.UnsupportedAlgorithm` unless it
        is P-256), every root, link and root CRL (``trust_list``), per-card SCP03 keys."""
        signer = manager.document_signer(now)
        trust = manager.trust_list()  # every root, link and root CRL (rollover)
        return cls(
            manager.scp03_key_provider(),
            signer.key,
            signer.chain,
            trust,
            actor,
            signer.signer_id,
            status_list_uri,
        )
