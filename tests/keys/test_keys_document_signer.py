"""The key layer's hand-outs: ``KeyManager.document_signer`` (signer, key, chain) and the one
home of the SCP03 derivation (``keys.diversify``, re-exported by the card protocol layer)."""

from __future__ import annotations

import dataclasses
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from keys.errors import InvalidPolicy, KeyStoreError, UnsupportedAlgorithm
from keys.pki import KeyManager
from keys.profiles import PkiPolicy
from keys.signer import DocumentSigner, StoreEcPrivateKey
from keys.store import Algorithm
from permit_errors import PermitError

from .conftest import NOW


def test_document_signer_is_the_current_signer_with_its_chain(initialised: KeyManager) -> None:
    signer = initialised.document_signer(NOW)
    assert isinstance(signer, DocumentSigner)
    record = initialised.current_signer(NOW)
    assert signer.signer_id == record.id
    assert isinstance(signer.key, StoreEcPrivateKey)
    assert signer.chain == (initialised.certificate(record.cert_file),)
    assert signer.certificate is signer.chain[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        signer.signer_id = "other"  # type: ignore[misc]
    assert repr(signer) == f"DocumentSigner({record.id!r})"
    # the key signs in the store, and the certificate's key verifies it
    signature = signer.key.sign(b"record", ec.ECDSA(hashes.SHA256()))
    public = signer.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"record", ec.ECDSA(hashes.SHA256()))


def test_document_signer_follows_rotation(initialised: KeyManager) -> None:
    first = initialised.document_signer(NOW).signer_id
    initialised.rotate_signer(NOW)
    assert initialised.document_signer(NOW).signer_id != first


def test_document_signer_refuses_a_non_p256_signer(manager: KeyManager) -> None:
    manager.init(NOW, PkiPolicy(algorithm=Algorithm.ECDSA_P384))
    with pytest.raises(UnsupportedAlgorithm, match="ES256") as caught:
        manager.document_signer(NOW)
    assert isinstance(caught.value, KeyStoreError)
    assert caught.value.code == "unsupported_algorithm"


def test_issuer_context_stands_on_document_signer_and_trust_list(
    initialised: KeyManager,
) -> None:
    from card_service.workflows.issuer import IssuerContext

    issuer = IssuerContext.from_key_manager(initialised, NOW)
    signer = initialised.document_signer(NOW)
    assert list(issuer.signer_chain) == list(signer.chain)
    assert issuer.trust == initialised.trust_list()
    serial = os.urandom(8)
    assert callable(issuer.key_provider)
    keys = issuer.key_provider(serial, initialised.active_kvn())
    assert keys == initialised.card_keys(serial)


def test_policy_errors_are_permit_errors_and_value_errors() -> None:
    with pytest.raises(InvalidPolicy) as caught:
        PkiPolicy(country="Narnia")
    assert isinstance(caught.value, PermitError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.code == "key_policy_invalid"


def test_scp03_derivation_has_one_host_side_home() -> None:
    """The card protocol layer re-exports the key library's KDF, constants and key type;
    the wire constants the simulator uses are the same objects, defined once."""
    from card_service.card import scp03, wire
    from keys import diversify

    assert scp03.StaticKeys is diversify.StaticKeys
    assert scp03.diversify_card_keys is diversify.diversify_card_keys
    assert scp03.kdf is diversify.kdf
    assert scp03.aes_cmac is diversify.aes_cmac
    assert wire.KdfConstant is diversify.KdfConstant
    assert (diversify.SERIAL_LENGTH, diversify.KEY_LENGTH) == (
        wire.SERIAL_LENGTH,
        wire.KEY_LENGTH,
    )
    mk, serial = os.urandom(16), os.urandom(8)
    keys = diversify.diversify_card_keys(mk, serial, 3)
    assert isinstance(keys, diversify.StaticKeys)
    assert keys.kvn == 3
    assert keys.enc == diversify.kdf(mk, diversify.CONST_K_ENC, 128, serial + b"\x03")
