"""Root rollover (ICAO 9303-12 CSCA link certificates): profile, registry, per-root CRLs,
trust-list combinations, forged links, export, OpenSSL and the CLI (both stores)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from keys.errors import KeyStoreError, RootExpired, SignerValidationError
from keys.pki import KeyManager
from keys.profiles import PkiPolicy
from keys.signer import store_private_key
from keys.store import KeyHandle
from keys.trust import TrustList, load_trust_dir

from .conftest import NOW, tree_digest
from .test_keys_cli import run

DAY = dt.timedelta(days=1)
ROLL = NOW + 100 * DAY
LATER = ROLL + 10 * DAY


def cert(manager: KeyManager, relative: str) -> x509.Certificate:
    return manager.certificate(relative)


def rolled(manager: KeyManager) -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
    """Roll ``manager`` over at ROLL; (old root, new root, link)."""
    manager.rollover_root(ROLL)
    old, new = manager.registry.roots
    assert new.link_file is not None
    return cert(manager, old.cert_file), cert(manager, new.cert_file), cert(manager, new.link_file)


def crls(manager: KeyManager) -> tuple[x509.CertificateRevocationList, ...]:
    """Every root's current CRL, as export-trust writes them."""
    records = [manager.registry.crl, *(r.crl for r in manager.registry.roots)]
    return tuple(
        x509.load_pem_x509_crl((manager.directory / c.file).read_bytes()) for c in records if c
    )


def ski(c: x509.Certificate) -> bytes:
    return c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def test_link_certificate_profile(initialised: KeyManager) -> None:
    m = initialised
    old, new, link = rolled(m)
    assert link.subject == new.subject == old.subject  # self-issued (pathLen 0 still holds)
    assert link.issuer == old.subject
    assert link.public_key() == new.public_key() != old.public_key()
    link.verify_directly_issued_by(old)  # signed by the old root's key
    with pytest.raises(Exception):  # noqa: B017 - and by nothing else
        link.verify_directly_issued_by(new)
    bc = link.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = link.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    aki = link.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski(old)
    assert ski(link) == ski(new) != ski(old)
    assert link.not_valid_before_utc == ROLL
    assert link.not_valid_after_utc == old.not_valid_after_utc  # as long as the old root
    assert new.not_valid_before_utc == ROLL and new.issuer == new.subject
    new.verify_directly_issued_by(new)


def test_registry_after_rollover(initialised: KeyManager) -> None:
    m = initialised
    old_cert, new_cert, _link = rolled(m)
    reg = m.registry
    assert [(r.id, r.state) for r in reg.roots] == [("root-01", "retired"), ("root-02", "active")]
    assert reg.roots[1].link_file == "certs/link-root-01-root-02.pem"
    data = json.loads((m.directory / "registry.json").read_text())
    # v4: rollover fields and the status-list signers (init creates one)
    assert data["format"] == "permit-key-registry-v4"
    # new document and audit signers certified by the new root, the old ones retired
    assert [(s.id, s.root_id, s.state) for s in reg.signers] == [
        ("ds-0001", "root-01", "retired"),
        ("ds-0002", "root-02", "active"),
    ]
    assert [(s.id, s.root_id) for s in reg.audit_signers] == [
        ("audit-0001", "root-01"),
        ("audit-0002", "root-02"),
    ]
    for s in (reg.signers[1], reg.audit_signers[1]):
        cert(m, s.cert_file).verify_directly_issued_by(new_cert)
    assert m.sign(b"after", ROLL + DAY).signer_id == "ds-0002"
    assert m.sign_audit(b"after", ROLL + DAY).signer_id == "audit-0002"
    assert m.root(ROLL + DAY)[0].id == "root-02"
    # each root signs its own CRL; numbers never repeat
    assert reg.crl is not None and reg.roots[0].crl is not None
    new_crl, old_crl = crls(m)[0], crls(m)[1]
    assert new_crl.is_signature_valid(new_cert.public_key())  # type: ignore[arg-type]
    assert old_crl.is_signature_valid(old_cert.public_key())  # type: ignore[arg-type]
    assert reg.crl.number != reg.roots[0].crl.number
    # a second manager reads it back (the v3 registry round-trips)
    again = KeyManager(m.settings)
    assert again.registry.to_json() == reg.to_json()
    info = m.describe(LATER)
    assert info["roots"][0]["state"] == "retired"
    assert info["roots"][0]["crl_until"] == old_cert.not_valid_after_utc.isoformat()
    assert info["roots"][1]["link_file"] == "certs/link-root-01-root-02.pem"


def test_signers_of_either_root_with_each_trust_list(initialised: KeyManager) -> None:
    m = initialised
    old_ds = m.sign(b"before", NOW + DAY).certificate
    old, new, link = rolled(m)
    new_ds = m.sign(b"after", ROLL + DAY).certificate
    all_crls = crls(m)

    def ok(trust: TrustList, leaf: x509.Certificate, at: dt.datetime) -> bool:
        try:
            trust.validate_signer([leaf], at=at, now=LATER)
        except SignerValidationError:
            return False
        return True

    lists = {
        "old": TrustList((old,), all_crls),
        "new": TrustList((new,), all_crls),
        "old+new": TrustList((old, new), all_crls),
        "old+link": TrustList((old,), all_crls, links=(link,)),
        "new+link": TrustList((new,), all_crls, links=(link,)),
    }
    assert {k for k, t in lists.items() if ok(t, old_ds, NOW + DAY)} == {
        "old",
        "old+new",
        "old+link",
    }
    assert {k for k, t in lists.items() if ok(t, new_ds, ROLL + DAY)} == {
        "new",
        "old+new",
        "old+link",
        "new+link",
    }
    # without the old root's CRL, the link's revocation status is unknown: refused
    without = TrustList((old,), (crls(m)[0],), links=(link,))
    with pytest.raises(SignerValidationError, match="no current CRL of the root that issued"):
        without.validate_signer([new_ds], at=ROLL + DAY, now=LATER)


def test_revocation_under_either_root(initialised: KeyManager) -> None:
    m = initialised
    old_ds = m.sign(b"before", NOW + DAY).certificate
    old, new, link = rolled(m)
    new_ds = m.sign(b"after", ROLL + DAY).certificate
    m.revoke_signer("ds-0001", "key-compromise", ROLL + 2 * DAY)
    new_crl, old_crl = crls(m)[0], crls(m)[1]
    assert old_crl.get_revoked_certificate_by_serial_number(old_ds.serial_number) is not None
    assert new_crl.get_revoked_certificate_by_serial_number(old_ds.serial_number) is None
    at = ROLL + 3 * DAY
    for roots, links in (((old,), ()), ((old, new), ()), ((old,), (link,))):
        trust = TrustList(roots, crls(m), links=links)
        with pytest.raises(SignerValidationError, match="revoked"):
            trust.validate_signer([old_ds], at=NOW + DAY, now=at)
        if links or new in roots:  # the new signer is untouched where it is trusted
            trust.validate_signer([new_ds], at=ROLL + DAY, now=at)
    m.revoke_signer("ds-0002", "superseded", at)
    assert crls(m)[0].get_revoked_certificate_by_serial_number(new_ds.serial_number) is not None
    for roots, links in (((new,), ()), ((old, new), ()), ((old,), (link,))):
        trust = TrustList(roots, crls(m), links=links)
        with pytest.raises(SignerValidationError, match="revoked"):
            trust.validate_signer([new_ds], at=ROLL + DAY, now=at + DAY)


def forge(
    m: KeyManager,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    subject: x509.Name | None = None,
    public: ec.EllipticCurvePublicKey | None = None,
    ca: bool = True,
    not_after: dt.datetime | None = None,
) -> x509.Certificate:
    """A link certificate like the real one with one thing changed; signed by the old root's
    key unless ``key`` is given."""
    old = cert(m, m.registry.roots[0].cert_file)
    new = cert(m, m.registry.roots[1].cert_file)
    pub = public or new.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    signer = key or store_private_key(
        m.store, KeyHandle(m.store.kind, "root-01", m.registry.policy.algorithm)
    )
    usage = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement"), False
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject or new.subject)
        .issuer_name(old.subject)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(ROLL)
        .not_valid_after(not_after or old.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
                **usage,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                old.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
        .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    )


FORGERIES: dict[str, tuple[Callable[[KeyManager], x509.Certificate], str]] = {
    "other-key": (
        lambda m: forge(m, key=ec.generate_private_key(ec.SECP256R1())),
        "not signed by a trusted root",
    ),
    "wrong-subject": (
        lambda m: forge(
            m, subject=x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Other CA")])
        ),
        "signer chain does not validate",
    ),
    "wrong-key": (
        lambda m: forge(m, public=ec.generate_private_key(ec.SECP256R1()).public_key()),
        "through a link",
    ),
    "not-a-ca": (lambda m: forge(m, ca=False), "not a CA"),
    "expired": (lambda m: forge(m, not_after=ROLL + 5 * DAY), "link certificate is not valid"),
}


@pytest.mark.parametrize("kind", sorted(FORGERIES))
def test_forged_link_is_refused(initialised: KeyManager, kind: str) -> None:
    m = initialised
    if m.registry.policy.algorithm.value != "ecdsa-p256-sha256":
        pytest.skip("forgeries are built for the default algorithm")
    old, _new, link = rolled(m)
    new_ds = m.sign(b"after", ROLL + DAY).certificate
    build, message = FORGERIES[kind]
    bad = build(m)
    TrustList((old,), crls(m), links=(link,)).validate_signer([new_ds], at=ROLL + DAY, now=LATER)
    with pytest.raises(SignerValidationError, match=message):
        TrustList((old,), crls(m), links=(bad,)).validate_signer([new_ds], at=ROLL + DAY, now=LATER)


def test_rollover_refuses_an_expired_root_and_rolls_back(
    manager: KeyManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager.init(NOW, PkiPolicy(root_validity_days=30, crl_validity_days=10))
    home = manager.directory.parent
    before = tree_digest(home)
    with pytest.raises(RootExpired):
        manager.rollover_root(NOW + 31 * DAY)
    assert tree_digest(home) == before

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyStoreError("simulated failure while signing the link")

    monkeypatch.setattr("keys.rollover.build_link_certificate", boom)
    with pytest.raises(KeyStoreError, match="simulated"):
        manager.rollover_root(NOW + DAY)
    assert tree_digest(home) == before
    monkeypatch.undo()
    with KeyManager(manager.settings) as again:  # nothing left over in the store
        assert again.rollover_root(NOW + DAY).id == "root-02"


def test_old_root_signs_its_crl_until_its_last_certificate_expires(
    initialised: KeyManager,
) -> None:
    m = initialised
    old, _new, _link = rolled(m)
    duty = old.not_valid_after_utc
    first = m.registry.roots[0].crl
    assert first is not None
    # the CRLs are reissued together, before each runs out
    t = first.next_update - DAY
    m.sign(b"x", t)
    renewed = m.registry.roots[0].crl
    assert renewed is not None and renewed.number > first.number and renewed.this_update == t
    assert m.registry.crl is not None and m.registry.crl.this_update == t
    # the last certificate the old root issued is the link; after it nothing needs its CRL
    reg = m.registry
    last = max(s.not_after for s in [*reg.signers, *reg.audit_signers] if s.root_id == "root-01")
    assert last <= duty
    past = duty + DAY
    m.refresh_crl(past, force=True)
    assert m.registry.roots[0].crl == renewed  # not reissued (its key would be out of date)
    assert m.registry.crl is not None and m.registry.crl.this_update == past


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "verify", *args], capture_output=True, text=True, check=False)


def test_export_trust_and_openssl(initialised: KeyManager, tmp_path: Path) -> None:
    m = initialised
    rolled(m)
    m.sign(b"after", ROLL + DAY)
    target = tmp_path / "trust"
    m.export_trust(target, LATER)
    names = sorted(p.name for p in target.iterdir())
    assert {"root-01.pem", "root-02.pem", "link-root-01-root-02.pem", "crl.pem"} <= set(names)
    assert "crl-root-01.pem" in names
    manifest = json.loads((target / "manifest.json").read_text())
    assert [r["id"] for r in manifest["roots"]] == ["root-01", "root-02"]
    [link] = manifest["links"]
    assert (link["issuer"], link["subject"], link["file"]) == (
        "root-01",
        "root-02",
        "link-root-01-root-02.pem",
    )
    [old_crl] = manifest["root_crls"]
    assert old_crl["root"] == "root-01" and old_crl["file"] == "crl-root-01.pem"
    import hashlib

    for entry in (link, old_crl):
        assert entry["sha256"] == hashlib.sha256((target / entry["file"]).read_bytes()).hexdigest()
    trust = load_trust_dir(target)
    assert len(trust.roots) == 2 and len(trust.links) == 1 and len(trust.crls) == 2
    new_ds = x509.load_pem_x509_certificate((target / "signer-ds-0002.pem").read_bytes())
    old_ds = x509.load_pem_x509_certificate((target / "signer-ds-0001.pem").read_bytes())
    old_only = TrustList((trust.roots[0],), trust.crls, links=trust.links)
    old_only.validate_signer([new_ds], at=ROLL + DAY, now=LATER)
    old_only.validate_signer([old_ds], at=NOW, now=LATER)

    if shutil.which("openssl") is None:
        pytest.skip("openssl command not installed")
    at = ["-attime", str(int(LATER.timestamp()))]
    t = {name: str(target / name) for name in names}
    crl_args = ["-crl_check_all", "-CRLfile", t["crl.pem"], "-CRLfile", t["crl-root-01.pem"]]
    new_leaf, old_leaf = t["signer-ds-0002.pem"], t["signer-ds-0001.pem"]
    link_file = t["link-root-01-root-02.pem"]
    # a new DS chains to the old root through the link (CRLs of both roots checked)
    proc = openssl(*at, "-CAfile", t["root-01.pem"], "-untrusted", link_file, *crl_args, new_leaf)
    assert proc.returncode == 0 and ": OK" in proc.stdout, proc.stdout + proc.stderr
    # ... or with the link itself as a (partial-chain) anchor, or with the new root
    proc = openssl(*at, "-partial_chain", "-CAfile", link_file, new_leaf)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = openssl(
        *at, "-CAfile", t["root-02.pem"], "-crl_check", "-CRLfile", t["crl.pem"], new_leaf
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # not with the old root alone
    proc = openssl(*at, "-CAfile", t["root-01.pem"], new_leaf)
    assert proc.returncode != 0
    # an old DS still verifies under the old root with the old root's CRL
    proc = openssl(
        *at, "-CAfile", t["root-01.pem"], "-crl_check", "-CRLfile", t["crl-root-01.pem"], old_leaf
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and with both roots and both CRLs in one bundle (a verifier's whole trust list)
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(
        (target / "root-01.pem").read_bytes() + (target / "root-02.pem").read_bytes()
    )
    for leaf in (old_leaf, new_leaf):
        proc = openssl(*at, "-CAfile", str(bundle), *crl_args, leaf)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_rollover_root(
    key_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["keys", "init"]) == 0
    capsys.readouterr()
    assert run(["keys", "rollover-root"]) == 0
    out = capsys.readouterr().out
    assert "root root-02 certified by root-01" in out and "ds-0002" in out
    assert run(["keys", "list"]) == 0
    out = capsys.readouterr().out
    assert "root-01" in out and "retired" in out and "signs its CRL until" in out
    assert "link    root-02" in out
    assert run(["keys", "export-trust", str(tmp_path / "t")]) == 0
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert len(manifest["links"]) == 1 and len(manifest["root_crls"]) == 1


@pytest.mark.parametrize("algorithm", ["ecdsa-p384-sha384", "ed25519"])
def test_rollover_with_other_algorithms(manager: KeyManager, algorithm: str) -> None:
    """The Ed25519 chains take the manual path (keys/trust.py): links work there too."""
    from keys.store import Algorithm

    manager.init(NOW, PkiPolicy(algorithm=Algorithm(algorithm)))
    old_ds = manager.sign(b"before", NOW + DAY).certificate
    old, new, link = rolled(manager)
    new_ds = manager.sign(b"after", ROLL + DAY).certificate
    all_crls = crls(manager)
    for trust in (
        TrustList((new,), all_crls),
        TrustList((old,), all_crls, links=(link,)),
        TrustList((old, new), all_crls),
    ):
        trust.validate_signer([new_ds], at=ROLL + DAY, now=LATER)
    TrustList((old,), all_crls, links=(link,)).validate_signer([old_ds], at=NOW + DAY, now=LATER)
    with pytest.raises(SignerValidationError):
        TrustList((old,), all_crls).validate_signer([new_ds], at=ROLL + DAY, now=LATER)
    auditor = manager.certificate(manager.registry.audit_signers[-1].cert_file)
    TrustList((old,), all_crls, links=(link,)).validate_audit_signer(
        [auditor], at=ROLL + DAY, now=LATER
    )
