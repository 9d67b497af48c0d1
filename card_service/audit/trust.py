"""The trust list checkpoints are verified against, taken from the local key directory."""

from __future__ import annotations

from keys.pki import KeyManager
from keys.trust import TrustList

__all__ = ["local_trust"]


def local_trust(manager: KeyManager) -> TrustList:
    """Active roots and the current CRL of ``manager`` (reads files only; no passphrase)."""
    roots = tuple(manager.certificate(r.cert_file) for r in manager.registry.roots)
    return TrustList(roots, (manager.current_crl(),))
