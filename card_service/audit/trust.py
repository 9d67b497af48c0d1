"""The trust list checkpoints are verified against, taken from the local key directory."""

from __future__ import annotations

from keys.pki import KeyManager
from keys.trust import TrustList

__all__ = ["local_trust"]


def local_trust(manager: KeyManager) -> TrustList:
    """Every root, link certificate and root CRL of ``manager`` (files only; no passphrase):
    checkpoints sealed under a rolled-over root still verify."""
    return manager.trust_list()
