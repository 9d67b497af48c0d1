"""Key stores, signers and the issuing authority's PKI (see docs/keys.md).

The PKCS#11 backend is imported only when ``PERMIT_KEY_STORE=pkcs11`` is used.
"""

from __future__ import annotations

from .config import KeySettings, load_settings
from .diversify import CardStaticKeys, StaticKeys, derive_card_keys, diversify_card_keys
from .errors import KeyStoreError, SignerValidationError
from .pki import KeyManager, SignatureResult
from .profiles import OID_DOCUMENT_SIGNING, PkiPolicy
from .signer import DocumentSigner
from .store import Algorithm, KeyHandle, KeyStore, open_store
from .trust import TrustList, load_trust_dir, validate_signer

__all__ = [
    "OID_DOCUMENT_SIGNING",
    "Algorithm",
    "CardStaticKeys",
    "DocumentSigner",
    "KeyHandle",
    "KeyManager",
    "KeySettings",
    "KeyStore",
    "KeyStoreError",
    "PkiPolicy",
    "SignatureResult",
    "SignerValidationError",
    "StaticKeys",
    "TrustList",
    "derive_card_keys",
    "diversify_card_keys",
    "load_settings",
    "load_trust_dir",
    "open_store",
    "validate_signer",
]
