"""Certificate and CRL profiles of the issuing authority.

Modelled on ISO/IEC 18013-5 Annex B (IACA root and document signer certificates):

* **root** (IACA-like): self-signed, ``basicConstraints`` CA:TRUE pathlen 0 (critical),
  ``keyUsage`` keyCertSign + cRLSign (critical), SKI = AKI, random 128-bit serial, default
  validity 20 years (the root's own use period plus the life of the last signer).
* **document signer** (DS): ``basicConstraints`` CA:FALSE (critical), ``keyUsage``
  digitalSignature (critical), ``extendedKeyUsage`` :data:`OID_DOCUMENT_SIGNING` (critical),
  AKI/SKI, the signing window as ``privateKeyUsagePeriod``, optional CRL distribution point.
  Validity = signing window (90 days) + the longest permit validity (5 years + 1 day),
  clipped to the root's validity: the certificate must verify as long as a permit it signed.
* **audit signer**: the same end-entity profile with ``extendedKeyUsage``
  :data:`OID_AUDIT_SIGNING` (critical) instead of document signing, always ECDSA P-256
  (:data:`AUDIT_SIGNER_ALGORITHM`).  It signs audit-log checkpoints and nothing else; a
  document signer never signs checkpoints and an audit signer never signs permits (each
  verifier requires its own EKU and refuses the other's).  Validity = its signing window
  (default 365 days) clipped to the root's: a checkpoint is verified against the certificate
  as it was at the checkpoint's time (chain model), so the certificate need not outlive it.
* **status-list signer**: the same end-entity profile with ``extendedKeyUsage``
  :data:`OID_STATUS_LIST_SIGNING` (critical), always ECDSA P-256
  (:data:`STATUS_SIGNER_ALGORITHM`).  It signs Token Status Lists (``card_service.status``)
  and nothing else; validity = the document signing window + :data:`STATUS_SIGNER_GRACE`.
* **link certificate** (ICAO 9303-12 CSCA link): the new root's subject and key, issued and
  signed by the old root, with the root's ``basicConstraints`` and ``keyUsage``
  (:func:`root_ca_constraints`), AKI = old root SKI, SKI = new key (:mod:`keys.rollover`).
* **CRL**: signed by the root, CRL number and AKI extensions, reason codes per entry,
  ``nextUpdate`` = thisUpdate + 30 days.

The document-signing EKU sits under permit's private OID arc ``2.25.<UUID>`` (X.667: a UUID
turned into an OID needs no registration), mirroring ISO 18013-5's mDL DS EKU
``1.0.18013.5.1.2``: ``<arc>.1.2``.  The audit-log signing EKU is the next one, ``<arc>.1.3``,
the status-list signing EKU ``<arc>.1.4``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .errors import UnsupportedAlgorithm
from .policy import MAX_CITY_LENGTH, MAX_ORGANISATION_LENGTH, MAX_PERIOD_DAYS, PkiPolicy
from .signer import store_private_key
from .store import Algorithm, KeyHandle, KeyStore, SigningPublicKey

__all__ = [
    "AUDIT_SIGNER_ALGORITHM",
    "MAX_CITY_LENGTH",
    "MAX_ORGANISATION_LENGTH",
    "MAX_PERIOD_DAYS",
    "MDL_DOCUMENT_SIGNER_EKU",
    "OID_AUDIT_SIGNING",
    "OID_DOCUMENT_SIGNING",
    "OID_STATUS_LIST_SIGNING",
    "PERMIT_OID_ARC",
    "ROLE_EKU",
    "ROLE_KEY_PREFIX",
    "ROLE_WORDING",
    "ROOT_PATH_LENGTH",
    "STATUS_SIGNER_ALGORITHM",
    "STATUS_SIGNER_GRACE",
    "PkiPolicy",
    "RevokedEntry",
    "SignerRole",
    "audit_signer_name",
    "build_audit_signer_certificate",
    "build_crl",
    "build_root_certificate",
    "build_signer_certificate",
    "build_status_signer_certificate",
    "hash_for",
    "root_ca_constraints",
    "root_name",
    "signer_name",
    "status_signer_name",
]

#: permit's private OID arc (X.667 UUID OID of c18adb0f-5c43-4f5d-816e-cf8983bdc150).
PERMIT_OID_ARC = "2.25.257261983217646200838263771580933718352"
#: Extended key usage of document signer certificates.
OID_DOCUMENT_SIGNING = ObjectIdentifier(PERMIT_OID_ARC + ".1.2")
#: Extended key usage of audit signer certificates (signed audit-log checkpoints only).
OID_AUDIT_SIGNING = ObjectIdentifier(PERMIT_OID_ARC + ".1.3")
#: Extended key usage of status-list signer certificates (signed Token Status Lists only).
OID_STATUS_LIST_SIGNING = ObjectIdentifier(PERMIT_OID_ARC + ".1.4")
#: The model: ISO/IEC 18013-5 mDL document signer EKU.
MDL_DOCUMENT_SIGNER_EKU = ObjectIdentifier("1.0.18013.5.1.2")

DAY = dt.timedelta(days=1)


class SignerRole(StrEnum):
    """What an end-entity key of the authority may sign (one role per key, one EKU each)."""

    DOCUMENT = "document-signer"
    AUDIT = "audit-signer"
    STATUS_LIST = "status-list-signer"


#: The extended key usage that marks each role's certificates.
ROLE_EKU = {
    SignerRole.DOCUMENT: OID_DOCUMENT_SIGNING,
    SignerRole.AUDIT: OID_AUDIT_SIGNING,
    SignerRole.STATUS_LIST: OID_STATUS_LIST_SIGNING,
}
#: Key-id prefix (``ds-0001``, ``audit-0001``, ``status-0001``) and log / message wording.
ROLE_KEY_PREFIX = {
    SignerRole.DOCUMENT: "ds",
    SignerRole.AUDIT: "audit",
    SignerRole.STATUS_LIST: "status",
}
ROLE_WORDING = {
    SignerRole.DOCUMENT: "document signer",
    SignerRole.AUDIT: "audit signer",
    SignerRole.STATUS_LIST: "status-list signer",
}
#: Audit signers are ECDSA P-256 whatever the policy's algorithm (checkpoints are small and
#: checked with standard tools; the root's algorithm only signs the certificate).
AUDIT_SIGNER_ALGORITHM = Algorithm.ECDSA_P256
#: Status-list signers sign ES256 Token Status Lists (COSE_Sign1): always ECDSA P-256.
STATUS_SIGNER_ALGORITHM = Algorithm.ECDSA_P256
#: A status-list signer's certificate outlives its signing window by this much, so a list
#: signed on the window's last day verifies until it expires (lists live hours, not weeks).
STATUS_SIGNER_GRACE = dt.timedelta(days=30)


@dataclass(frozen=True)
class RevokedEntry:
    serial_number: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags


def _name(policy: PkiPolicy, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, policy.country.upper()),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, policy.organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def root_name(policy: PkiPolicy) -> x509.Name:
    return _name(policy, f"{policy.city} Residence Permit Root CA")


def signer_name(policy: PkiPolicy, seq: int) -> x509.Name:
    return _name(policy, f"{policy.city} Residence Permit Document Signer {seq:04d}")


def audit_signer_name(policy: PkiPolicy, seq: int) -> x509.Name:
    return _name(policy, f"{policy.city} Residence Permit Audit Signer {seq:04d}")


def status_signer_name(policy: PkiPolicy, seq: int) -> x509.Name:
    return _name(policy, f"{policy.city} Residence Permit Status Signer {seq:04d}")


def hash_for(algorithm: Algorithm) -> hashes.SHA256 | hashes.SHA384 | None:
    """The hash argument of the x509 builders' ``sign`` (``None`` for Ed25519)."""
    if algorithm is Algorithm.ECDSA_P256:
        return hashes.SHA256()
    if algorithm is Algorithm.ECDSA_P384:
        return hashes.SHA384()
    if algorithm is Algorithm.ED25519:
        return None
    raise UnsupportedAlgorithm(f"certificates with {algorithm.value} are not implemented")


#: pathLenConstraint of roots and of link certificates (a link is self-issued: it does not
#: count against it).
ROOT_PATH_LENGTH = 0


def root_ca_constraints() -> list[tuple[x509.ExtensionType, bool]]:
    """``basicConstraints`` and ``keyUsage`` (both critical) of a root and of a link
    certificate (ICAO 9303-12: a CSCA link certificate has the CSCA's constraints)."""
    return [
        (x509.BasicConstraints(ca=True, path_length=ROOT_PATH_LENGTH), True),
        (
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        ),
    ]


def build_root_certificate(
    store: KeyStore, handle: KeyHandle, policy: PkiPolicy, now: dt.datetime
) -> x509.Certificate:
    """The self-signed root, valid from ``now`` for ``policy.root_validity_days``."""
    signer = store_private_key(store, handle)
    public = signer.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    name = root_name(policy)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + policy.root_validity_days * DAY)
    )
    for extension, critical in root_ca_constraints():
        builder = builder.add_extension(extension, critical=critical)
    return (
        builder.add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(signer, hash_for(handle.algorithm))
    )


def build_signer_certificate(
    store: KeyStore,
    root_handle: KeyHandle,
    root_cert: x509.Certificate,
    public: SigningPublicKey,
    policy: PkiPolicy,
    seq: int,
    not_before: dt.datetime,
    signing_not_after: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """A document-signer certificate for ``public``, certified by the root."""
    return _end_entity_certificate(
        store,
        root_handle,
        root_cert,
        public,
        policy,
        signer_name(policy, seq),
        SignerRole.DOCUMENT,
        not_before,
        signing_not_after,
        not_after,
    )


def build_audit_signer_certificate(
    store: KeyStore,
    root_handle: KeyHandle,
    root_cert: x509.Certificate,
    public: SigningPublicKey,
    policy: PkiPolicy,
    seq: int,
    not_before: dt.datetime,
    signing_not_after: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """An audit-signer certificate for ``public`` (EKU :data:`OID_AUDIT_SIGNING`)."""
    return _end_entity_certificate(
        store,
        root_handle,
        root_cert,
        public,
        policy,
        audit_signer_name(policy, seq),
        SignerRole.AUDIT,
        not_before,
        signing_not_after,
        not_after,
    )


def build_status_signer_certificate(
    store: KeyStore,
    root_handle: KeyHandle,
    root_cert: x509.Certificate,
    public: SigningPublicKey,
    policy: PkiPolicy,
    seq: int,
    not_before: dt.datetime,
    signing_not_after: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """A status-list signer certificate (EKU :data:`OID_STATUS_LIST_SIGNING`)."""
    return _end_entity_certificate(
        store,
        root_handle,
        root_cert,
        public,
        policy,
        status_signer_name(policy, seq),
        SignerRole.STATUS_LIST,
        not_before,
        signing_not_after,
        not_after,
    )


def _end_entity_certificate(
    store: KeyStore,
    root_handle: KeyHandle,
    root_cert: x509.Certificate,
    public: SigningPublicKey,
    policy: PkiPolicy,
    subject: x509.Name,
    role: SignerRole,
    not_before: dt.datetime,
    signing_not_after: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """The end-entity profile shared by every role; only the name and the EKU differ."""
    root_ski = root_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ROLE_EKU[role]]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .add_extension(
            x509.PrivateKeyUsagePeriod(not_before=not_before, not_after=signing_not_after),
            critical=False,
        )
    )
    if policy.crl_url:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(policy.crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(store_private_key(store, root_handle), hash_for(root_handle.algorithm))


def build_crl(
    store: KeyStore,
    root_handle: KeyHandle,
    root_cert: x509.Certificate,
    revoked: list[RevokedEntry],
    number: int,
    now: dt.datetime,
    policy: PkiPolicy,
) -> x509.CertificateRevocationList:
    """The root's CRL number ``number``, valid from ``now`` for ``crl_validity_days``."""
    root_ski = root_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root_cert.subject)
        .last_update(now)
        .next_update(now + policy.crl_validity_days * DAY)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial_number)
            .revocation_date(entry.revoked_at)
            .add_extension(x509.CRLReason(entry.reason), critical=False)
            .build()
        )
    return builder.sign(store_private_key(store, root_handle), hash_for(root_handle.algorithm))
