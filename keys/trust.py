"""Offline verification of document, audit and status-list signers against a trust directory.

A verifier (bank, merchant, auditor) holds the directory written by ``permit keys
export-trust``: the root certificate(s), the current CRL and a ``manifest.json``.
:func:`validate_signer` (document signers), :func:`validate_audit_signer` (audit-log
checkpoints) and :func:`validate_status_signer` (Token Status Lists) check a signer chain
with cryptography's X.509 verifier (``PolicyBuilder``, path building and signature checks,
RFC 5280 profile for the CA), plus what that verifier leaves to us:

* the end-entity policy requires the role's EKU (document signing, or audit-log signing),
  refuses a certificate that also carries the other role's EKU, and requires ``keyUsage``
  digitalSignature and CA:FALSE (``ExtensionPolicy`` replaces the web-PKI client-auth EKU
  check);
* the signing time ``at`` lies inside the signer's signing window (``privateKeyUsagePeriod``)
  and is not in the future;
* the CRL is signed by the key that issued the signer (a root, or a link certificate's new
  root key), current at ``now`` and does not list the signer.

**Root rollover.**  A trust list may hold several roots (they share one subject name) and
link certificates (``links``: the old root certifying the new one, :mod:`keys.links`).  A
signer verifies under any trusted root directly, or under a link certificate that a trusted
root vouches for: a signer under the new root verifies with the new root, or with the old
root and the link, never with the old root alone.

The path is validated at ``now`` for document signers (their certificates outlive the permits
they sign) and at the signing time ``at`` for audit signers (chain model: a checkpoint stays
verifiable after its signer's short certificate has expired; revocation is still checked
against the CRL current at ``now``).

Ed25519 chains take a documented manual path (:func:`keys.signer_profile.validate_ed25519_chain`):
the web-PKI profile of cryptography's verifier does not allow Ed25519 keys or signatures.  The
CRL rule (which CRL belongs to an issuer, when it is current) is :func:`crl_of` /
:func:`current_crl` (:mod:`keys.links`, re-exported here), the one rule every verifier uses.

Every failure raises :class:`keys.errors.SignerValidationError`, and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import SignatureAlgorithmOID
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from .clock import NaiveDateTime, require_utc
from .errors import SignerFailure, SignerValidationError
from .fsutil import read_regular_file
from .links import accept_link, crl_of, current_crl, issued_by, link_root
from .profiles import ROLE_EKU, SignerRole
from .signer_profile import end_entity_policy, validate_ed25519_chain

__all__ = [
    "TrustList",
    "certificate_role",
    "crl_of",
    "current_crl",
    "issuing_certificate",
    "load_trust_dir",
    "member_path",
    "signer_crl",
    "signer_trust_range",
    "trust_of_manifest",
    "validate_audit_signer",
    "validate_signer",
    "validate_status_signer",
]


@dataclass(frozen=True)
class TrustList:
    """Trust anchors and CRLs for offline verification."""

    roots: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...]
    signers: tuple[x509.Certificate, ...] = ()
    audit_signers: tuple[x509.Certificate, ...] = ()
    #: Link certificates (root rollover): a new root's key certified by the old root.
    links: tuple[x509.Certificate, ...] = ()

    def validate_signer(
        self, cert_chain: Sequence[x509.Certificate], at: dt.datetime, now: dt.datetime
    ) -> x509.Certificate:
        return validate_signer(self, cert_chain, at=at, now=now)

    def validate_audit_signer(
        self, cert_chain: Sequence[x509.Certificate], at: dt.datetime, now: dt.datetime
    ) -> x509.Certificate:
        return validate_audit_signer(self, cert_chain, at=at, now=now)

    def validate_status_signer(
        self, cert_chain: Sequence[x509.Certificate], at: dt.datetime, now: dt.datetime
    ) -> x509.Certificate:
        return validate_status_signer(self, cert_chain, at=at, now=now)


def member_path(path: Path, name: object) -> Path:
    """``path / name`` for a plain file name of the manifest (no directories, no ``..``)."""
    if not isinstance(name, str) or not name or name != Path(name).name or name.startswith("."):
        raise ValueError("manifest names a file outside the trust directory")
    return path / name


def load_trust_dir(path: Path) -> TrustList:
    """Read a directory written by ``permit keys export-trust``.

    Any problem (missing or unreadable file, malformed or absurdly nested manifest, a file
    name that leaves the directory) is a :class:`SignerValidationError`.
    """
    try:
        manifest = json.loads(read_regular_file(path / "manifest.json"))
        return trust_of_manifest(manifest, lambda name: read_regular_file(member_path(path, name)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise SignerValidationError(
            f"unreadable trust directory {path}: {type(exc).__name__}",
            SignerFailure.TRUST_LIST_UNREADABLE,
        ) from None


def trust_of_manifest(manifest: Any, read: Callable[[object], bytes]) -> TrustList:
    """The trust list a manifest names, its files read by ``read(name)`` (raises what the
    reads and the parsers raise: callers turn it into one error)."""
    if not isinstance(manifest, dict):
        raise TypeError("manifest is not a JSON object")
    roots = tuple(x509.load_pem_x509_certificate(read(r["file"])) for r in manifest["roots"])
    signers = tuple(x509.load_pem_x509_certificate(read(s["file"])) for s in manifest["signers"])
    audit_signers = tuple(  # absent from trust lists exported before audit signers
        x509.load_pem_x509_certificate(read(s["file"])) for s in manifest.get("audit_signers", [])
    )
    crl = manifest.get("crl")
    crls: tuple[x509.CertificateRevocationList, ...] = (
        (x509.load_pem_x509_crl(read(crl["file"])),) if crl else ()
    )
    crls += tuple(  # root rollover: the retired roots' CRLs and the link certificates
        x509.load_pem_x509_crl(read(c["file"])) for c in manifest.get("root_crls", [])
    )
    links = tuple(
        x509.load_pem_x509_certificate(read(c["file"])) for c in manifest.get("links", [])
    )
    return TrustList(roots, crls, signers, audit_signers, links)


def certificate_role(cert: x509.Certificate) -> SignerRole | None:
    """The role the certificate's extendedKeyUsage gives it: exactly one of our signing EKUs,
    else ``None`` (no EKU, neither, or both).  Says nothing about trust: see the validators."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    roles = [role for role, oid in ROLE_EKU.items() if oid in eku]
    return roles[0] if len(roles) == 1 else None


def _utc(value: dt.datetime, name: str) -> dt.datetime:
    """:func:`keys.clock.require_utc`, failing as a :class:`SignerValidationError` (the only
    exception a verifier raises) with reason ``BAD_ARGUMENT``."""
    try:
        return require_utc(value, name)
    except NaiveDateTime as exc:
        raise SignerValidationError(str(exc), SignerFailure.BAD_ARGUMENT) from None


def validate_signer(
    trust: TrustList, cert_chain: Sequence[x509.Certificate], at: dt.datetime, now: dt.datetime
) -> x509.Certificate:
    """Validate a DS chain (leaf first) for a signature made at ``at``, checked at ``now``.

    The chain must be valid at ``now`` and the leaf must be a document signer.  Returns the
    verified leaf certificate.
    """
    return _validate(trust, cert_chain, at, now, SignerRole.DOCUMENT)


def validate_audit_signer(
    trust: TrustList, cert_chain: Sequence[x509.Certificate], at: dt.datetime, now: dt.datetime
) -> x509.Certificate:
    """Validate an audit-signer chain (leaf first) for a checkpoint signed at ``at``.

    The chain must have been valid at ``at`` (not necessarily at ``now``), the leaf must be an
    audit signer (audit-signing EKU, no document-signing EKU) that could sign at ``at``, and
    the CRL current at ``now`` must not list it.  Returns the verified leaf certificate.
    """
    return _validate(trust, cert_chain, at, now, SignerRole.AUDIT)


def validate_status_signer(
    trust: TrustList, cert_chain: Sequence[x509.Certificate], at: dt.datetime, now: dt.datetime
) -> x509.Certificate:
    """Validate a status-list signer chain (leaf first) for a list issued at ``at``.

    As :func:`validate_signer` (the path at ``now``: a status list is only worth anything
    while it is current) with the status-list signing EKU: a document or audit signer is
    refused, and a status-list signer is refused by the other two validators.  Returns the
    verified leaf certificate.
    """
    return _validate(trust, cert_chain, at, now, SignerRole.STATUS_LIST)


def _validate(
    trust: TrustList,
    cert_chain: Sequence[x509.Certificate],
    at: dt.datetime,
    now: dt.datetime,
    role: SignerRole,
) -> x509.Certificate:
    at, now = _utc(at, "at"), _utc(now, "now")
    if not cert_chain:
        raise SignerValidationError("empty certificate chain", SignerFailure.EMPTY_CHAIN)
    if at > now:
        raise SignerValidationError("signing time is in the future", SignerFailure.SIGNED_IN_FUTURE)
    if not trust.roots:
        raise SignerValidationError("no trust anchors", SignerFailure.NO_TRUST_ANCHORS)
    leaf = cert_chain[0]
    path_time = at if role is SignerRole.AUDIT else now
    try:
        issuer = _validate_under(trust.roots, cert_chain, path_time, role)
    except SignerValidationError as exc:
        issuer = _validate_through_link(trust, cert_chain, path_time, now, role, exc)
    _check_window_and_crl(trust, leaf, issuer, at, now)
    return leaf


def _validate_under(
    anchors: Sequence[x509.Certificate],
    cert_chain: Sequence[x509.Certificate],
    path_time: dt.datetime,
    role: SignerRole,
) -> x509.Certificate:
    """The path from the leaf to one of ``anchors``; returns the anchor that issued it."""
    leaf = cert_chain[0]
    if (
        isinstance(leaf.public_key(), ed25519.Ed25519PublicKey)
        or leaf.signature_algorithm_oid == SignatureAlgorithmOID.ED25519
    ):
        return validate_ed25519_chain(anchors, leaf, path_time, role)
    return _validate_with_cryptography(anchors, cert_chain, path_time, role)


def _validate_through_link(
    trust: TrustList,
    cert_chain: Sequence[x509.Certificate],
    path_time: dt.datetime,
    now: dt.datetime,
    role: SignerRole,
    direct: SignerValidationError,
) -> x509.Certificate:
    """The path through a link certificate a trusted root vouches for (:mod:`keys.links`);
    raises ``direct`` (the failure under the roots) with every link's reason appended."""
    problems = []
    for link in trust.links:
        if link.subject != cert_chain[0].issuer:
            continue
        try:
            accept_link(trust.roots, trust.crls, link, path_time, now)
            return _validate_under((link,), cert_chain, path_time, role)
        except SignerValidationError as exc:
            problems.append(str(exc))
    if not problems:
        raise direct
    raise SignerValidationError(f"{direct}; through a link: {'; '.join(problems)}", direct.reason)


def issuing_certificate(trust: TrustList, leaf: x509.Certificate) -> x509.Certificate | None:
    """The trusted root, or link certificate vouched for by one, whose key signed ``leaf``
    (signatures and link profile only, no validity or revocation: it tells a genuine
    signer from a forged one)."""
    for root in trust.roots:
        if issued_by(leaf, root):
            return root
    for link in trust.links:
        if issued_by(leaf, link):
            try:
                link_root(trust.roots, link)
            except SignerValidationError:
                continue
            return link
    return None


def signer_crl(
    trust: TrustList, leaf: x509.Certificate, now: dt.datetime
) -> x509.CertificateRevocationList | None:
    """The CRL of the key that issued ``leaf`` current at ``now`` (``None``: unknown)."""
    issuer = issuing_certificate(trust, leaf)
    return None if issuer is None else current_crl(trust.crls, issuer, now)


def signer_trust_range(
    trust: TrustList, leaf: x509.Certificate
) -> tuple[dt.datetime, dt.datetime] | None:
    """The interval of ``now`` over which a validation of ``leaf`` stays true as far as
    validity and CRL currency go: leaf, issuer, link's root and their CRLs (for caches)."""
    issuer = issuing_certificate(trust, leaf)
    if issuer is None:
        return None
    certs = [leaf, issuer]
    crls = [crl_of(trust.crls, issuer)]
    if issuer not in trust.roots:
        root = link_root(trust.roots, issuer)
        certs.append(root)
        crls.append(crl_of(trust.crls, root))
    lo = max(c.not_valid_before_utc for c in certs)
    hi = min(c.not_valid_after_utc for c in certs)
    for crl in crls:
        if crl is None or crl.next_update_utc is None:
            return None
        lo, hi = max(lo, crl.last_update_utc), min(hi, crl.next_update_utc)
    return lo, hi


def _validate_with_cryptography(
    anchors: Sequence[x509.Certificate],
    cert_chain: Sequence[x509.Certificate],
    path_time: dt.datetime,
    role: SignerRole,
) -> x509.Certificate:
    """Path validation by cryptography's verifier at ``path_time``; returns the anchor used."""
    leaf = cert_chain[0]
    try:
        verifier = (
            PolicyBuilder()
            .store(Store(list(anchors)))
            .time(path_time)
            .max_chain_depth(1)
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=end_entity_policy(role)
            )
            .build_client_verifier()
        )
        verified = verifier.verify(leaf, list(cert_chain[1:]))
    except VerificationError as exc:
        raise SignerValidationError(
            f"signer chain does not validate: {exc}", SignerFailure.CHAIN_INVALID
        ) from None
    return verified.chain[-1]


def _check_window_and_crl(
    trust: TrustList,
    leaf: x509.Certificate,
    root: x509.Certificate,
    at: dt.datetime,
    now: dt.datetime,
) -> None:
    if at < leaf.not_valid_before_utc:
        raise SignerValidationError(
            "signed before the signer certificate was valid", SignerFailure.OUTSIDE_SIGNING_WINDOW
        )
    try:
        window = leaf.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
    except x509.ExtensionNotFound:
        raise SignerValidationError(
            "signer certificate has no signing window", SignerFailure.NO_SIGNING_WINDOW
        ) from None
    if (window.not_before is not None and at < window.not_before.replace(tzinfo=dt.UTC)) or (
        window.not_after is not None and at > window.not_after.replace(tzinfo=dt.UTC)
    ):
        raise SignerValidationError(
            "signed outside the signer's signing window", SignerFailure.OUTSIDE_SIGNING_WINDOW
        )

    if not any(c.issuer == root.subject for c in trust.crls):
        raise SignerValidationError("no CRL from the root", SignerFailure.NO_CRL)
    crl = crl_of(trust.crls, root)  # signed by the key that issued the signer
    if crl is None:
        raise SignerValidationError("CRL signature is not valid", SignerFailure.CRL_INVALID)
    if crl.next_update_utc is None or not crl.last_update_utc <= now <= crl.next_update_utc:
        raise SignerValidationError("CRL is not current", SignerFailure.CRL_NOT_CURRENT)
    if crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None:
        raise SignerValidationError("signer certificate is revoked", SignerFailure.REVOKED)
