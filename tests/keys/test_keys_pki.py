"""Root, document signers, rotation, revocation and CRLs over simulated time (both stores)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from keys.config import load_settings
from keys.diversify import derive_card_keys
from keys.errors import NoUsableSigner, RootExpired, SignerValidationError, UnknownSigner
from keys.pki import KeyManager
from keys.profiles import OID_DOCUMENT_SIGNING, PkiPolicy
from keys.trust import load_trust_dir

from .conftest import NOW, file_env

DAY = dt.timedelta(days=1)
SERIAL = bytes.fromhex("1122334455667788")


def export(manager: KeyManager, tmp_path: Path, now: dt.datetime, name: str = "trust") -> Path:
    target = tmp_path / name
    manager.export_trust(target, now)
    return target


def openssl_verify(trust: Path, leaf: Path, at: dt.datetime) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-attime",
            str(int(at.timestamp())),
            "-CAfile",
            str(trust / "root-01.pem"),
            "-crl_check",
            "-CRLfile",
            str(trust / "crl.pem"),
            str(leaf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_profiles(initialised: KeyManager) -> None:
    reg = initialised.registry
    root = initialised.certificate(reg.roots[0].cert_file)
    ds = initialised.certificate(reg.signers[0].cert_file)
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    assert "Residence Permit Root CA" in root.subject.rfc4514_string()
    assert "C=CN" in root.subject.rfc4514_string()
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert root.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert ds.issuer == root.subject
    assert not ds.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = ds.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [OID_DOCUMENT_SIGNING]
    assert ds.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    window = ds.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
    assert window.not_after is not None
    policy = reg.policy
    assert ds.not_valid_after_utc - ds.not_valid_before_utc == dt.timedelta(
        days=policy.signing_window_days + policy.permit_validity_days
    )
    assert reg.signers[0].signing_not_after == NOW + policy.signing_window_days * DAY
    aki = ds.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert ds.serial_number != root.serial_number and ds.serial_number > 2**64


def test_chain_validates_with_cryptography_and_openssl(
    initialised: KeyManager, tmp_path: Path
) -> None:
    result = initialised.sign(b"record", NOW)
    ds_cert = result.certificate
    public = ds_cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(result.signature, b"record", ec.ECDSA(ds_cert.signature_hash_algorithm))  # type: ignore[arg-type]
    trust = export(initialised, tmp_path, NOW)
    names = sorted(p.name for p in trust.iterdir())
    assert names == [
        "crl.pem",
        "manifest.json",
        "root-01.pem",
        "signer-audit-0001.pem",
        "signer-ds-0001.pem",
    ]
    anchors = load_trust_dir(trust)
    later = NOW + 10 * DAY
    assert anchors.validate_signer([ds_cert], at=NOW, now=later) == ds_cert
    # A permit signed on the last day of the window still verifies years later
    # (with a fresh CRL).
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not installed")
    proc = openssl_verify(trust, trust / "signer-ds-0001.pem", later)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": OK" in proc.stdout


def test_signing_window_and_automatic_rotation(initialised: KeyManager, tmp_path: Path) -> None:
    m = initialised
    window = m.registry.policy.signing_window_days * DAY
    assert m.sign(b"a", NOW).signer_id == "ds-0001"
    assert m.sign(b"b", NOW + window - dt.timedelta(seconds=1)).signer_id == "ds-0001"
    # the window closes: a new signer is created and certified, the old one never used again
    second = m.sign(b"c", NOW + window)
    assert second.signer_id == "ds-0002"
    assert m.sign(b"d", NOW + window + DAY).signer_id == "ds-0002"
    states = {s["id"]: s["state"] for s in m.describe(NOW + window + DAY)["signers"]}
    assert states == {"ds-0001": "retired", "ds-0002": "active"}
    # the registry on disk has it too
    fresh = KeyManager(m.settings)
    assert [s.id for s in fresh.registry.signers] == ["ds-0001", "ds-0002"]
    assert fresh.usable_signer(NOW + window + DAY).id == "ds-0002"  # type: ignore[union-attr]
    with pytest.raises(NoUsableSigner):
        fresh.current_signer(NOW + 2 * window, auto_rotate=False)
    # signatures by ds-0002 verify; a record claiming ds-0001 signed after its window fails
    trust = load_trust_dir(export(m, tmp_path, NOW + window + DAY))
    trust.validate_signer([second.certificate], at=NOW + window, now=NOW + window + DAY)
    first_cert = m.certificate("certs/ds-0001.pem")
    with pytest.raises(SignerValidationError, match="window"):
        trust.validate_signer([first_cert], at=NOW + window + DAY, now=NOW + window + DAY)


def test_expired_signer_never_used(initialised: KeyManager) -> None:
    m = initialised
    far = NOW + (m.registry.policy.signing_window_days * 3) * DAY
    result = m.sign(b"x", far)
    assert result.signer_id == "ds-0002"
    assert result.certificate.not_valid_before_utc == far
    assert m.signer("ds-0001").effective_state(far) == "retired"
    with pytest.raises(UnknownSigner):
        m.signer("ds-9999")


def test_forced_rotation_retires_current(initialised: KeyManager) -> None:
    m = initialised
    new = m.rotate_signer(NOW + DAY)
    assert new.id == "ds-0002"
    assert m.sign(b"x", NOW + 2 * DAY).signer_id == "ds-0002"
    assert m.rotate_signer(NOW + 3 * DAY, force=False).id == "ds-0002"


def test_revoked_signer_fails_validation(initialised: KeyManager, tmp_path: Path) -> None:
    m = initialised
    result = m.sign(b"record", NOW)
    number = m.registry.crl.number  # type: ignore[union-attr]
    m.revoke_signer("ds-0001", "key-compromise", NOW + DAY)
    assert m.registry.crl.number == number + 1  # type: ignore[union-attr]
    crl = m.current_crl()
    entry = crl.get_revoked_certificate_by_serial_number(result.certificate.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    root = m.certificate("certs/root-01.pem")
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    # the next signature comes from a new signer
    assert m.sign(b"next", NOW + 2 * DAY).signer_id == "ds-0002"
    trust_dir = export(m, tmp_path, NOW + 2 * DAY)
    trust = load_trust_dir(trust_dir)
    with pytest.raises(SignerValidationError, match="revoked"):
        trust.validate_signer([result.certificate], at=NOW, now=NOW + 2 * DAY)
    proc = openssl_verify(trust_dir, trust_dir / "signer-ds-0001.pem", NOW + 2 * DAY)
    assert proc.returncode != 0 and "revoked" in proc.stdout + proc.stderr
    assert (
        openssl_verify(trust_dir, trust_dir / "signer-ds-0002.pem", NOW + 2 * DAY).returncode == 0
    )
    with pytest.raises(Exception, match="already revoked"):
        m.revoke_signer("ds-0001", "superseded", NOW + 3 * DAY)


def test_crl_reissued_before_expiry(initialised: KeyManager, tmp_path: Path) -> None:
    m = initialised
    policy = m.registry.policy
    first = m.registry.crl
    assert first is not None and first.number == 1
    assert first.next_update == NOW + policy.crl_validity_days * DAY
    early = NOW + (policy.crl_validity_days - policy.crl_refresh_margin_days - 1) * DAY
    assert m.refresh_crl(early) is False
    due = NOW + (policy.crl_validity_days - policy.crl_refresh_margin_days) * DAY
    assert m.refresh_crl(due) is True
    crl = m.current_crl()
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    assert crl.next_update_utc == due + policy.crl_validity_days * DAY
    # a verifier with a stale CRL refuses; export refreshes it when due
    stale = load_trust_dir(export(m, tmp_path, due, "t1"))
    cert = m.certificate("certs/ds-0001.pem")
    late = due + (policy.crl_validity_days + 1) * DAY
    with pytest.raises(SignerValidationError, match="CRL"):
        stale.validate_signer([cert], at=NOW, now=late)
    fresh = load_trust_dir(export(m, tmp_path, late, "t2"))
    assert m.registry.crl.number == 3  # type: ignore[union-attr]
    fresh.validate_signer([cert], at=NOW, now=late)


def test_master_key_rotation_keeps_old_cards(initialised: KeyManager) -> None:
    m = initialised
    assert m.active_kvn() == 1
    old = m.card_keys(SERIAL)
    assert m.rotate_master_key(NOW + DAY) == 2
    assert m.active_kvn() == 2
    new = m.card_keys(SERIAL)
    assert new.kvn == 2 and new.enc != old.enc
    assert m.card_keys(SERIAL, kvn=1) == old
    assert derive_card_keys(m.store, 1, SERIAL) == old
    states = {k["kvn"]: k["state"] for k in m.describe(NOW + DAY)["master_keys"]}
    assert states == {1: "retired", 2: "active"}


def test_root_expiry(manager: KeyManager) -> None:
    manager.init(NOW, PkiPolicy(root_validity_days=200, permit_validity_days=365))
    reg = manager.registry
    # signer certificates never outlive the root
    assert reg.signers[0].not_after == reg.roots[0].not_after
    with pytest.raises(RootExpired):
        manager.sign(b"x", NOW + 201 * DAY)
    assert manager.describe(NOW + 201 * DAY)["roots"][0]["state"] == "expired"


def test_validation_rejects_foreign_and_non_signer_certs(
    initialised: KeyManager, tmp_path: Path
) -> None:
    trust = load_trust_dir(export(initialised, tmp_path, NOW))
    root = initialised.certificate("certs/root-01.pem")
    with pytest.raises(SignerValidationError):
        trust.validate_signer([root], at=NOW, now=NOW)
    with pytest.raises(SignerValidationError):
        trust.validate_signer([], at=NOW, now=NOW)
    cert = initialised.certificate("certs/ds-0001.pem")
    with pytest.raises(SignerValidationError, match="future"):
        trust.validate_signer([cert], at=NOW + DAY, now=NOW)
    with KeyManager(load_settings(file_env(tmp_path / "other"))) as foreign:
        foreign.init(NOW)
        with pytest.raises(SignerValidationError, match="does not validate"):
            trust.validate_signer([foreign.certificate("certs/ds-0001.pem")], at=NOW, now=NOW)


def test_sign_refreshes_crl_when_due(initialised: KeyManager) -> None:
    m = initialised
    policy = m.registry.policy
    due = NOW + (policy.crl_validity_days - policy.crl_refresh_margin_days) * DAY
    m.sign(b"x", due - DAY)
    assert m.registry.crl.number == 1  # type: ignore[union-attr]
    m.sign(b"x", due)
    assert m.registry.crl.number == 2  # type: ignore[union-attr]


def test_scp03_key_provider_follows_card_kvn(initialised: KeyManager) -> None:
    scp03 = pytest.importorskip("card_service.card.scp03")
    m = initialised
    old = m.card_keys(SERIAL, 1)
    m.rotate_master_key(NOW + DAY)
    provide = m.scp03_key_provider()
    for kvn in (1, 2):
        keys = provide(SERIAL, kvn)
        assert isinstance(keys, scp03.StaticKeys)
        assert keys.enc == m.card_keys(SERIAL, kvn).enc
    assert provide(SERIAL, 1).mac == old.mac


@pytest.mark.parametrize("algorithm", ["ecdsa-p384-sha384", "ed25519"])
def test_other_algorithms_chain(manager: KeyManager, tmp_path: Path, algorithm: str) -> None:
    from keys.store import Algorithm

    policy = PkiPolicy(algorithm=Algorithm(algorithm), crl_url="http://crl.example/r.crl")
    manager.init(NOW, policy)
    result = manager.sign(b"record", NOW)
    cert = result.certificate
    expected = {
        "ecdsa-p384-sha384": x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        "ed25519": x509.SignatureAlgorithmOID.ED25519,
    }[algorithm]
    assert cert.signature_algorithm_oid == expected
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(result.signature, b"record", ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
    else:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(result.signature, b"record")
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name is not None
    assert cdp[0].full_name[0].value == "http://crl.example/r.crl"
    trust_dir = export(manager, tmp_path, NOW)
    trust = load_trust_dir(trust_dir)
    trust.validate_signer([cert], at=NOW, now=NOW + DAY)
    assert openssl_verify(trust_dir, trust_dir / "signer-ds-0001.pem", NOW + DAY).returncode == 0
    with pytest.raises(SignerValidationError, match="window"):
        trust.validate_signer([cert], at=NOW + 100 * DAY, now=NOW + 100 * DAY)
    manager.revoke_signer("ds-0001", "superseded", NOW + DAY)
    trust = load_trust_dir(export(manager, tmp_path, NOW + DAY, "after"))
    with pytest.raises(SignerValidationError, match="revoked"):
        trust.validate_signer([cert], at=NOW, now=NOW + DAY)
    with KeyManager(load_settings(file_env(tmp_path / "other"))) as foreign:
        foreign.init(NOW, policy)
        with pytest.raises(SignerValidationError, match="does not validate"):
            trust.validate_signer([foreign.certificate("certs/ds-0001.pem")], at=NOW, now=NOW)


def test_two_managers_see_each_others_writes(initialised: KeyManager) -> None:
    """Writers lock the keys directory and re-read the registry: no stale decisions."""
    other = KeyManager(initialised.settings)
    assert other.registry.signers[-1].id == "ds-0001"  # cached now
    initialised.rotate_signer(NOW + DAY)
    assert other.rotate_signer(NOW + 2 * DAY).id == "ds-0003"
    other.revoke_signer("ds-0002", "superseded", NOW + 2 * DAY)
    assert initialised.revoke_signer("ds-0001", "superseded", NOW + 3 * DAY).id == "ds-0001"
    assert (
        KeyManager(initialised.settings)
        .current_crl()
        .extensions.get_extension_for_class(x509.CRLNumber)
        .value.crl_number
        == 3
    )
    other.close()


def test_long_lived_signer_sees_revocation(initialised: KeyManager) -> None:
    assert initialised.sign(b"x", NOW).signer_id == "ds-0001"
    with KeyManager(initialised.settings) as operator:
        operator.revoke_signer("ds-0001", "key-compromise", NOW + DAY)
    assert initialised.sign(b"y", NOW + DAY).signer_id == "ds-0002"
