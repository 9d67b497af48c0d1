"""The audit signer: its own key, certificate profile (audit EKU), rotation, revocation,
listing and export, on both stores; and the separation from document signers."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keys.config import load_settings
from keys.errors import CorruptKeyFile, KeyStoreError, NoUsableSigner, SignerValidationError
from keys.pki import KeyManager
from keys.profiles import (
    OID_AUDIT_SIGNING,
    OID_DOCUMENT_SIGNING,
    PERMIT_OID_ARC,
    PkiPolicy,
    SignerRole,
)
from keys.registry import load_registry
from keys.store import Algorithm
from keys.trust import certificate_role, load_trust_dir

from .conftest import NOW, PASSPHRASE, SoftHsm, file_env, pkcs11_env
from .helpers import make_legacy_key_directory
from .test_keys_pki import export, openssl_verify

DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


def needs_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not installed")


def verify_ecdsa(result_certificate: x509.Certificate, signature: bytes, data: bytes) -> None:
    public = result_certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def test_init_creates_an_audit_signer_with_its_own_profile(initialised: KeyManager) -> None:
    reg = initialised.registry
    [record] = reg.audit_signers
    assert (record.id, record.seq, record.role) == ("audit-0001", 1, SignerRole.AUDIT)
    assert record.algorithm is Algorithm.ECDSA_P256 and record.state == "active"
    assert [s.id for s in reg.signers] == ["ds-0001"]  # a separate key, not a DS
    assert reg.signers[0].role is SignerRole.DOCUMENT
    root = initialised.certificate(reg.roots[0].cert_file)
    cert = initialised.certificate(record.cert_file)
    ds = initialised.certificate(reg.signers[0].cert_file)

    assert OID_AUDIT_SIGNING.dotted_string == PERMIT_OID_ARC + ".1.3"
    assert OID_DOCUMENT_SIGNING.dotted_string == PERMIT_OID_ARC + ".1.2"
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == "Example City Residence Permit Audit Signer 0001"
    assert cert.issuer == root.subject
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [OID_AUDIT_SIGNING]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert not any(
        getattr(ku.value, name)
        for name in (
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
        )
    )
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    window = cert.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
    assert window.not_after is not None
    assert window.not_after.replace(tzinfo=dt.UTC) == cert.not_valid_after_utc
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == 365 * DAY
    assert record.signing_not_after == record.not_after == NOW + 365 * DAY
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert cert.serial_number not in (root.serial_number, ds.serial_number)
    assert certificate_role(cert) is SignerRole.AUDIT
    assert certificate_role(ds) is SignerRole.DOCUMENT
    assert certificate_role(root) is None
    # the key is in the store: a second, distinct key from the document signer's
    assert (
        initialised.store.public_key(
            initialised.store.signing_key("audit-0001", Algorithm.ECDSA_P256)
        )
        == public
    )
    assert ds.public_key() != public


def test_sign_audit_and_sign_use_different_keys(initialised: KeyManager) -> None:
    m = initialised
    audit = m.sign_audit(b"checkpoint", NOW)
    document = m.sign(b"record", NOW)
    assert (audit.signer_id, document.signer_id) == ("audit-0001", "ds-0001")
    verify_ecdsa(audit.certificate, audit.signature, b"checkpoint")
    assert certificate_role(audit.certificate) is SignerRole.AUDIT
    assert certificate_role(document.certificate) is SignerRole.DOCUMENT


def test_audit_chain_validates_with_cryptography_and_openssl(
    initialised: KeyManager, tmp_path: Path
) -> None:
    m = initialised
    result = m.sign_audit(b"checkpoint", NOW)
    trust_dir = export(m, tmp_path, NOW)
    trust = load_trust_dir(trust_dir)
    later = NOW + 10 * DAY
    leaf = trust.validate_audit_signer([result.certificate], at=NOW, now=later)
    assert leaf == result.certificate
    assert trust.audit_signers == (result.certificate,)
    # roles do not mix: each validator refuses the other role's certificate
    with pytest.raises(SignerValidationError, match="not a document signer"):
        trust.validate_signer([result.certificate], at=NOW, now=later)
    ds = m.certificate("certs/ds-0001.pem")
    with pytest.raises(SignerValidationError, match="not an audit signer"):
        trust.validate_audit_signer([ds], at=NOW, now=later)
    trust.validate_signer([ds], at=NOW, now=later)
    needs_openssl()
    pem = trust_dir / "signer-audit-0001.pem"
    proc = openssl_verify(trust_dir, pem, later)
    assert proc.returncode == 0 and ": OK" in proc.stdout, proc.stdout + proc.stderr
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", str(pem)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "X509v3 Extended Key Usage: critical" in text
    assert OID_AUDIT_SIGNING.dotted_string in text
    assert "Digital Signature" in text and "Certificate Sign" not in text


def test_audit_key_is_kept_like_the_other_keys(initialised: KeyManager, store_kind: str) -> None:
    if store_kind == "file":
        pem = (initialised.directory / "private" / "audit-0001.p8.pem").read_bytes()
        assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        return
    from pkcs11 import Attribute, ObjectClass

    session = initialised.store._open()  # type: ignore[attr-defined]
    key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="audit-0001")
    assert key[Attribute.EXTRACTABLE] is False and key[Attribute.SENSITIVE] is True
    assert key[Attribute.TOKEN] is True and key[Attribute.SIGN] is True
    for attribute in (Attribute.DERIVE, Attribute.DECRYPT, Attribute.UNWRAP):
        assert key[attribute] is False, attribute
    assert not (initialised.directory / "private").exists()


def test_audit_signer_rotation_over_simulated_time(initialised: KeyManager, tmp_path: Path) -> None:
    m = initialised
    window = m.registry.policy.audit_signing_window_days * DAY
    first = m.sign_audit(b"a", NOW)
    assert m.sign_audit(b"b", NOW + window - SECOND).signer_id == "audit-0001"
    second = m.sign_audit(b"c", NOW + window)  # the window closed: a new audit signer
    assert second.signer_id == "audit-0002"
    assert second.certificate.not_valid_before_utc == NOW + window
    assert m.sign_audit(b"d", NOW + window + DAY).signer_id == "audit-0002"
    info = m.describe(NOW + window + DAY)
    assert {s["id"]: s["state"] for s in info["audit_signers"]} == {
        "audit-0001": "expired",  # its certificate ends with its window
        "audit-0002": "active",
    }
    # document signers are untouched by audit rotation
    assert [s.id for s in m.registry.signers] == ["ds-0001"]
    fresh = KeyManager(m.settings)
    assert [s.id for s in fresh.registry.audit_signers] == ["audit-0001", "audit-0002"]
    with pytest.raises(NoUsableSigner, match="audit signer"):
        fresh.current_audit_signer(NOW + 3 * window, auto_rotate=False)
    # chain model: a signature made inside the expired signer's window still validates
    now = NOW + window + DAY
    trust = load_trust_dir(export(m, tmp_path, now))
    trust.validate_audit_signer([first.certificate], at=NOW, now=now)
    trust.validate_audit_signer([second.certificate], at=NOW + window, now=now)
    with pytest.raises(SignerValidationError):  # but none made after it (notAfter inclusive)
        trust.validate_audit_signer([first.certificate], at=NOW + window + SECOND, now=now)
    with pytest.raises(SignerValidationError):
        trust.validate_audit_signer([second.certificate], at=NOW + window - SECOND, now=now)


def test_forced_and_due_audit_rotation(initialised: KeyManager) -> None:
    m = initialised
    assert m.rotate_audit_signer(NOW + DAY, force=False).id == "audit-0001"
    new = m.rotate_audit_signer(NOW + DAY)
    assert new.id == "audit-0002" and m.signer("audit-0001").state == "retired"
    assert m.sign_audit(b"x", NOW + 2 * DAY).signer_id == "audit-0002"
    assert m.usable_audit_signer(NOW + 2 * DAY) == new
    assert m.usable_signer(NOW + 2 * DAY).id == "ds-0001"  # type: ignore[union-attr]


def test_audit_window_is_a_policy_setting(manager: KeyManager) -> None:
    manager.init(NOW, PkiPolicy(audit_signing_window_days=30))
    assert manager.sign_audit(b"x", NOW + 29 * DAY).signer_id == "audit-0001"
    assert manager.sign_audit(b"x", NOW + 30 * DAY).signer_id == "audit-0002"
    assert manager.describe(NOW)["audit_signers"][0]["signing_window_days"] == 30


def test_audit_signer_never_outlives_the_root(manager: KeyManager) -> None:
    manager.init(NOW, PkiPolicy(root_validity_days=200, permit_validity_days=365))
    reg = manager.registry
    assert reg.audit_signers[0].not_after == reg.roots[0].not_after
    assert reg.audit_signers[0].signing_not_after == reg.roots[0].not_after


def test_revoked_audit_signer(initialised: KeyManager, tmp_path: Path) -> None:
    m = initialised
    result = m.sign_audit(b"checkpoint", NOW)
    number = m.registry.crl.number  # type: ignore[union-attr]
    revoked = m.revoke_signer("audit-0001", "key-compromise", NOW + DAY)
    assert revoked.role is SignerRole.AUDIT and revoked.state == "revoked"
    assert m.registry.crl.number == number + 1  # type: ignore[union-attr]
    entry = m.current_crl().get_revoked_certificate_by_serial_number(
        result.certificate.serial_number
    )
    assert entry is not None
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.key_compromise
    )
    # the next checkpoint signature comes from a new audit signer; documents are unaffected
    assert m.sign_audit(b"next", NOW + 2 * DAY).signer_id == "audit-0002"
    assert m.sign(b"record", NOW + 2 * DAY).signer_id == "ds-0001"
    trust_dir = export(m, tmp_path, NOW + 2 * DAY)
    trust = load_trust_dir(trust_dir)
    with pytest.raises(SignerValidationError, match="revoked"):
        trust.validate_audit_signer([result.certificate], at=NOW, now=NOW + 2 * DAY)
    states = {s["id"]: s["state"] for s in m.describe(NOW + 2 * DAY)["audit_signers"]}
    assert states == {"audit-0001": "revoked", "audit-0002": "active"}
    with pytest.raises(KeyStoreError, match="audit signer audit-0001 is already revoked"):
        m.revoke_signer("audit-0001", "superseded", NOW + 3 * DAY)
    needs_openssl()
    proc = openssl_verify(trust_dir, trust_dir / "signer-audit-0001.pem", NOW + 2 * DAY)
    assert proc.returncode != 0 and "revoked" in proc.stdout + proc.stderr
    proc = openssl_verify(trust_dir, trust_dir / "signer-audit-0002.pem", NOW + 2 * DAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_listing_and_export_name_the_audit_signer(initialised: KeyManager, tmp_path: Path) -> None:
    info = initialised.describe(NOW)
    assert [(s["id"], s["role"]) for s in info["signers"]] == [("ds-0001", "document-signer")]
    assert [(s["id"], s["role"]) for s in info["audit_signers"]] == [("audit-0001", "audit-signer")]
    trust_dir = export(initialised, tmp_path, NOW)
    manifest = json.loads((trust_dir / "manifest.json").read_text())
    [entry] = manifest["audit_signers"]
    assert entry["id"] == "audit-0001" and entry["role"] == "audit-signer"
    assert entry["file"] == "signer-audit-0001.pem" and entry["state"] == "active"
    assert [s["role"] for s in manifest["signers"]] == ["document-signer"]
    pem = (trust_dir / entry["file"]).read_bytes()
    assert b"PRIVATE" not in pem
    assert x509.load_pem_x509_certificate(pem) == initialised.certificate("certs/audit-0001.pem")


def test_key_directory_without_audit_signer_gets_one_on_first_use(
    initialised: KeyManager,
) -> None:
    make_legacy_key_directory(initialised)
    with KeyManager(initialised.settings) as old:
        assert old.registry.audit_signers == [] and old.describe(NOW)["audit_signers"] == []
        assert old.usable_audit_signer(NOW) is None
        with pytest.raises(NoUsableSigner):
            old.current_audit_signer(NOW, auto_rotate=False)
        assert old.sign(b"record", NOW).signer_id == "ds-0001"  # documents need nothing new
        result = old.sign_audit(b"checkpoint", NOW + DAY)
        assert result.signer_id == "audit-0001"
        assert certificate_role(result.certificate) is SignerRole.AUDIT
    data = json.loads((initialised.directory / "registry.json").read_text())
    assert data["format"] == "permit-key-registry-v2"
    assert [s["role"] for s in data["audit_signers"]] == ["audit-signer"]
    # another process that read the old registry does not create a second one
    assert KeyManager(initialised.settings).rotate_audit_signer(NOW + DAY, force=False).id == (
        "audit-0001"
    )


def test_registry_role_mismatch_is_corruption(initialised: KeyManager) -> None:
    path = initialised.directory / "registry.json"
    data = json.loads(path.read_text())
    data["audit_signers"][0]["role"] = "document-signer"
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptKeyFile, match="registry"):
        load_registry(initialised.directory)


@pytest.mark.parametrize("algorithm", ["ecdsa-p384-sha384", "ed25519"])
def test_audit_signer_under_other_root_algorithms(
    manager: KeyManager, tmp_path: Path, algorithm: str
) -> None:
    """The audit key is P-256 whatever the policy; the root's algorithm signs its certificate
    (an Ed25519 root takes the verifier's manual path)."""
    manager.init(NOW, PkiPolicy(algorithm=Algorithm(algorithm)))
    result = manager.sign_audit(b"checkpoint", NOW)
    verify_ecdsa(result.certificate, result.signature, b"checkpoint")
    expected = {
        "ecdsa-p384-sha384": x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        "ed25519": x509.SignatureAlgorithmOID.ED25519,
    }[algorithm]
    assert result.certificate.signature_algorithm_oid == expected
    trust_dir = export(manager, tmp_path, NOW)
    trust = load_trust_dir(trust_dir)
    trust.validate_audit_signer([result.certificate], at=NOW, now=NOW + DAY)
    with pytest.raises(SignerValidationError, match="not a document signer"):
        trust.validate_signer([result.certificate], at=NOW, now=NOW + DAY)
    with pytest.raises(SignerValidationError, match="not an audit signer"):
        trust.validate_audit_signer([manager.certificate("certs/ds-0001.pem")], at=NOW, now=NOW)
    needs_openssl()
    proc = openssl_verify(trust_dir, trust_dir / "signer-audit-0001.pem", NOW + DAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manager.revoke_signer("audit-0001", "key-compromise", NOW + DAY)
    trust = load_trust_dir(export(manager, tmp_path, NOW + DAY, "after"))
    with pytest.raises(SignerValidationError, match="revoked"):
        trust.validate_audit_signer([result.certificate], at=NOW, now=NOW + DAY)


def test_certificate_with_both_roles_is_refused_by_both_validators(tmp_path: Path) -> None:
    """One key, one duty: a certificate the root issued with both EKUs validates as neither."""
    settings = load_settings(file_env(tmp_path))
    with KeyManager(settings) as m:
        m.init(NOW)
        root_key = serialization.load_pem_private_key(
            (m.directory / "private" / "root-01.p8.pem").read_bytes(), PASSPHRASE.encode()
        )
        assert isinstance(root_key, ec.EllipticCurvePrivateKey)
        root = m.certificate("certs/root-01.pem")
        template = m.certificate("certs/audit-0001.pem")
        builder = (
            x509.CertificateBuilder()
            .subject_name(template.subject)
            .issuer_name(root.subject)
            .public_key(template.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(template.not_valid_before_utc)
            .not_valid_after(template.not_valid_after_utc)
        )
        for ext in template.extensions:
            if isinstance(ext.value, x509.ExtendedKeyUsage):
                builder = builder.add_extension(
                    x509.ExtendedKeyUsage([OID_AUDIT_SIGNING, OID_DOCUMENT_SIGNING]), True
                )
            else:
                builder = builder.add_extension(ext.value, ext.critical)
        both = builder.sign(root_key, hashes.SHA256())
        trust = load_trust_dir(export(m, tmp_path, NOW))
    assert certificate_role(both) is None
    with pytest.raises(SignerValidationError, match="another role"):
        trust.validate_audit_signer([both], at=NOW, now=NOW)
    with pytest.raises(SignerValidationError, match="another role"):
        trust.validate_signer([both], at=NOW, now=NOW)


def test_audit_signer_on_softhsm_survives_a_new_session(tmp_path: Path, softhsm: SoftHsm) -> None:
    """The audit key lives on the token: a second manager (new session) signs with it."""
    env = pkcs11_env(tmp_path, softhsm, softhsm.new_token())
    with KeyManager(load_settings(env)) as m:
        m.init(NOW)
        first = m.sign_audit(b"a", NOW)
    with KeyManager(load_settings(env)) as again:
        second = again.sign_audit(b"b", NOW + DAY)
    assert first.signer_id == second.signer_id == "audit-0001"
    verify_ecdsa(second.certificate, second.signature, b"b")
