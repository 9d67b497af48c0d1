"""Separation of duties: a permit record signed with the authority's audit key (a valid
certificate from the trusted root, but with the audit-signing EKU) is FORGED."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.record import Verdict, Verifier, sign_record
from card_service.record.sample import synthetic_applicant
from keys.config import KeySettings
from keys.pki import KeyManager
from keys.signer import StoreEcPrivateKey
from keys.store import KeyHandle
from keys.trust import TrustList

from .conftest import NOW, SIGNED

PASSPHRASE = "correct horse battery staple 7"


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[KeyManager]:
    settings = KeySettings(
        directory=tmp_path / "keys",
        env={"PERMIT_HOME": str(tmp_path), "PERMIT_KEY_PASSPHRASE": PASSPHRASE},
    )
    with KeyManager(settings) as manager:
        manager.init(SIGNED - dt.timedelta(days=1))
        yield manager


def signed_with(manager: KeyManager, signer_id: str, card: ec.EllipticCurvePrivateKey) -> bytes:
    record = manager.signer(signer_id)
    key = StoreEcPrivateKey(
        manager.store, KeyHandle(manager.store.kind, record.id, record.algorithm)
    )
    return sign_record(
        synthetic_applicant(SIGNED, seed=7),
        card_key=card.public_key(),
        signer_key=key,
        signer_chain=[manager.certificate(record.cert_file)],
        now=SIGNED,
    )


def test_record_signed_by_the_audit_signer_is_forged(keys: KeyManager) -> None:
    card = ec.generate_private_key(ec.SECP256R1())
    roots = tuple(keys.certificate(r.cert_file) for r in keys.registry.roots)
    verifier = Verifier(TrustList(roots, (keys.current_crl(),)))
    # control: the same record signed by the document signer is valid
    assert verifier.verify(signed_with(keys, "ds-0001", card), now=NOW).verdict is Verdict.VALID
    result = verifier.verify(signed_with(keys, "audit-0001", card), now=NOW)
    assert result.verdict is Verdict.FORGED
    [reason] = [r for r in result.reasons if r.code == "signer_untrusted"]
    assert "not a document signer" in reason.message
