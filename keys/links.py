"""Verifier side of root rollover: link certificates and per-root CRLs (see keys/rollover.py).

After a rollover both roots carry the same subject name, so nothing here matches a CRL or an
issuer by name alone: a CRL belongs to the root (or link) whose *key* signed it, and an
issuer is the certificate whose key verifies the signature.

A **link certificate** (ICAO 9303-12 CSCA link) is accepted as an issuer of document and
audit signers only if a trusted root vouches for it:

* it is signed by the key of a trusted root whose subject is its issuer;
* it has the root's CA profile: ``basicConstraints`` CA:TRUE (critical) with a pathLen no
  larger than the root's, ``keyUsage`` keyCertSign + cRLSign (critical), AKI = the root's SKI,
  SKI = its own key's;
* it is self-issued (subject = issuer = the root's subject): that is what lets it sit under a
  pathLen-0 root (RFC 5280 6.1.4 (l)) and what permit's rollover always makes;
* it and the root are valid at the path time, and the root's current CRL (at ``now``) does
  not list it.

cryptography's X.509 verifier neither skips self-issued certificates when it counts pathLen
nor builds paths through them, so an accepted link is handed to it as the anchor of a
one-level chain instead (:mod:`keys.trust`); OpenSSL verifies the same chain in one go
(``openssl verify -CAfile root-01.pem -untrusted link-root-01-root-02.pem``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from .errors import SignerFailure, SignerValidationError

__all__ = [
    "accept_link",
    "crl_of",
    "current_crl",
    "issued_by",
    "link_root",
]


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``cert`` names ``issuer``'s subject as its issuer and ``issuer``'s key signed it."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def crl_of(
    crls: Sequence[x509.CertificateRevocationList], issuer: x509.Certificate
) -> x509.CertificateRevocationList | None:
    """The newest CRL signed by ``issuer``'s key (and naming its subject), whatever its
    currency; ``None`` if there is none."""
    mine = []
    for crl in crls:
        if crl.issuer != issuer.subject:
            continue
        try:
            if crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                mine.append(crl)
        except (ValueError, TypeError):
            continue
    return max(mine, key=lambda c: c.last_update_utc) if mine else None


def current_crl(
    crls: Sequence[x509.CertificateRevocationList], issuer: x509.Certificate, now: dt.datetime
) -> x509.CertificateRevocationList | None:
    """:func:`crl_of` if it is current at ``now``."""
    crl = crl_of(crls, issuer)
    if crl is None or crl.next_update_utc is None:
        return None
    return crl if crl.last_update_utc <= now <= crl.next_update_utc else None


def _link_problem(link: x509.Certificate, root: x509.Certificate) -> str | None:
    if link.subject != link.issuer:
        return "link certificate is not self-issued (its subject is not the root's name)"
    try:
        bc = link.extensions.get_extension_for_class(x509.BasicConstraints)
        ku = link.extensions.get_extension_for_class(x509.KeyUsage)
        aki = link.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = link.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        root_bc = root.extensions.get_extension_for_class(x509.BasicConstraints).value
        root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except (x509.ExtensionNotFound, ValueError):
        return "link certificate lacks a CA extension (basicConstraints, keyUsage, AKI, SKI)"
    if not (bc.critical and bc.value.ca):
        return "link certificate is not a CA (basicConstraints)"
    limit = root_bc.path_length
    if limit is not None and (bc.value.path_length is None or bc.value.path_length > limit):
        return "link certificate's pathLen exceeds the root's"
    if not (ku.critical and ku.value.key_cert_sign and ku.value.crl_sign):
        return "link certificate's keyUsage is not keyCertSign + cRLSign"
    if aki.key_identifier != root_ski.digest:
        return "link certificate's authority key identifier is not the root's"
    try:
        own = x509.SubjectKeyIdentifier.from_public_key(link.public_key())
    except (ValueError, TypeError):
        return "link certificate has an unusable key"
    if ski.digest != own.digest:
        return "link certificate's subject key identifier is not its key's"
    return None


def link_root(roots: Sequence[x509.Certificate], link: x509.Certificate) -> x509.Certificate:
    """The trusted root that issued ``link`` with the link profile (no time checks)."""
    problem = "link certificate is not signed by a trusted root"
    for root in roots:
        if not issued_by(link, root):
            continue
        found = _link_problem(link, root)
        if found is None:
            return root
        problem = found
    raise SignerValidationError(problem, SignerFailure.LINK_INVALID)


def accept_link(
    roots: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    link: x509.Certificate,
    path_time: dt.datetime,
    now: dt.datetime,
) -> x509.Certificate:
    """The root that vouches for ``link`` at ``path_time`` (revocation at ``now``)."""
    root = link_root(roots, link)
    for cert, what in ((link, "link certificate"), (root, "root of the link certificate")):
        if not cert.not_valid_before_utc <= path_time <= cert.not_valid_after_utc:
            raise SignerValidationError(
                f"{what} is not valid at the path time", SignerFailure.LINK_INVALID
            )
    crl = current_crl(crls, root, now)
    if crl is None:
        raise SignerValidationError(
            "no current CRL of the root that issued the link certificate", SignerFailure.NO_CRL
        )
    if crl.get_revoked_certificate_by_serial_number(link.serial_number) is not None:
        raise SignerValidationError("link certificate is revoked", SignerFailure.LINK_REVOKED)
    return root
