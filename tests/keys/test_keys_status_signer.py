"""The status-list signer: its own key and certificate (EKU <arc>.1.4) under the root, created
by init, handed out with its chain, rotated and revoked like the audit signer, and kept apart
from document and audit signers by every validator."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from keys.errors import SignerFailure, SignerValidationError
from keys.pki import KeyManager
from keys.profiles import (
    OID_AUDIT_SIGNING,
    OID_DOCUMENT_SIGNING,
    OID_STATUS_LIST_SIGNING,
    PERMIT_OID_ARC,
    STATUS_SIGNER_GRACE,
    SignerRole,
)
from keys.registry import load_registry
from keys.trust import certificate_role, validate_audit_signer, validate_signer

from .conftest import NOW
from .helpers import make_legacy_key_directory

DAY = dt.timedelta(days=1)


def test_init_creates_a_status_list_signer(initialised: KeyManager) -> None:
    [record] = initialised.registry.status_signers
    assert record.id == "status-0001" and record.role is SignerRole.STATUS_LIST
    cert = initialised.certificate(record.cert_file)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [OID_STATUS_LIST_SIGNING]
    assert OID_STATUS_LIST_SIGNING.dotted_string == PERMIT_OID_ARC + ".1.4"
    assert OID_STATUS_LIST_SIGNING not in (OID_DOCUMENT_SIGNING, OID_AUDIT_SIGNING)
    assert certificate_role(cert) is SignerRole.STATUS_LIST
    assert "Status Signer 0001" in cert.subject.rfc4514_string()
    window = initialised.registry.policy.signing_window_days * DAY
    assert record.signing_not_after == NOW + window
    assert record.not_after == NOW + window + STATUS_SIGNER_GRACE
    data = json.loads((initialised.directory / "registry.json").read_text())
    assert data["format"] == "permit-key-registry-v4"
    assert [s["id"] for s in data["status_signers"]] == ["status-0001"]
    assert load_registry(initialised.directory).status_signers[0].id == "status-0001"
    assert [s["id"] for s in initialised.describe(NOW)["status_signers"]] == ["status-0001"]


def test_status_signer_hands_out_key_and_chain(initialised: KeyManager) -> None:
    signer = initialised.status_signer(NOW + DAY)
    assert signer.signer_id == "status-0001"
    assert certificate_role(signer.certificate) is SignerRole.STATUS_LIST
    signature = signer.key.sign(b"list", ec.ECDSA(hashes.SHA256()))
    public = signer.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"list", ec.ECDSA(hashes.SHA256()))
    trust = initialised.trust_list()
    leaf = trust.validate_status_signer(signer.chain, at=NOW + DAY, now=NOW + DAY)
    assert leaf == signer.certificate
    assert initialised.current_status_signer(NOW + DAY).id == "status-0001"


def test_roles_do_not_stand_in_for_each_other(initialised: KeyManager) -> None:
    trust = initialised.trust_list()
    when = NOW + DAY
    status = initialised.status_signer(when).chain
    document = initialised.document_signer(when).chain
    audit = (initialised.sign_audit(b"x", when).certificate,)
    for chain in (document, audit):
        with pytest.raises(SignerValidationError) as caught:
            trust.validate_status_signer(chain, at=when, now=when)
        assert caught.value.reason is SignerFailure.CHAIN_INVALID
    with pytest.raises(SignerValidationError):
        validate_signer(trust, status, at=when, now=when)
    with pytest.raises(SignerValidationError):
        validate_audit_signer(trust, status, at=when, now=when)


def test_rotation_and_revocation(initialised: KeyManager) -> None:
    window = initialised.registry.policy.signing_window_days * DAY
    later = NOW + window + DAY
    # the window closed: a new one is certified on use, documents and audit untouched
    assert initialised.status_signer(later).signer_id == "status-0002"
    assert [s.state for s in initialised.registry.status_signers] == ["retired", "active"]
    assert [s.id for s in initialised.registry.signers] == ["ds-0001"]
    assert initialised.rotate_status_signer(later, force=False).id == "status-0002"
    assert initialised.rotate_status_signer(later).id == "status-0003"
    chain = initialised.status_signer(later).chain
    initialised.revoke_signer("status-0003", "key-compromise", later)
    crl = initialised.current_crl()
    assert crl.get_revoked_certificate_by_serial_number(chain[0].serial_number) is not None
    with pytest.raises(SignerValidationError) as caught:
        initialised.trust_list().validate_status_signer(chain, at=later, now=later + DAY)
    assert caught.value.reason is SignerFailure.REVOKED
    # a revoked signer is never handed out: the next use certifies a new one
    assert initialised.status_signer(later + DAY).signer_id == "status-0004"


def test_directory_without_status_signer_gets_one_on_first_use(
    initialised: KeyManager,
) -> None:
    make_legacy_key_directory(initialised)
    with KeyManager(initialised.settings) as old:
        assert old.registry.status_signers == []
        assert old.status_signer(NOW + DAY).signer_id == "status-0001"
    data = json.loads((initialised.directory / "registry.json").read_text())
    assert data["format"] == "permit-key-registry-v4"


def test_cli_lists_and_rotates_the_status_list_signer(
    key_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_keys_cli import run

    assert run(["keys", "init"]) == 0
    capsys.readouterr()
    assert run(["keys", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert any(line.startswith("status  status-0001 ") for line in rows)
    assert run(["keys", "rotate", "--status-list", "--if-due"]) == 0
    assert "status-list signer status-0001 still in its window" in capsys.readouterr().out
    assert run(["keys", "rotate", "--status-list"]) == 0
    assert "new status-list signer status-0002" in capsys.readouterr().out
    assert run(["keys", "rotate", "--status-list", "--audit"]) == 2  # one role at a time
