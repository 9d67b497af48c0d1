"""The end-entity rules a verifier adds to path validation, and the Ed25519 manual path.

cryptography's X.509 verifier builds and checks the path (:mod:`keys.trust`); what it leaves
to us is the end-entity profile of our signers (:func:`end_entity_policy`): the role's EKU
present and no other role's (one duty per key), ``keyUsage`` digitalSignature only, CA:FALSE.

Its web-PKI profile does not allow Ed25519 keys or signatures, so an Ed25519 chain (an Ed25519
root certifying a P-256 audit signer) takes :func:`validate_ed25519_chain`, which checks what
the verifier would for our one-level chain with the same end-entity rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ObjectIdentifier
from cryptography.x509.verification import Criticality, ExtensionPolicy, Policy

from .errors import SignerFailure, SignerValidationError
from .profiles import ROLE_EKU, SignerRole

__all__ = [
    "check_key_usage",
    "check_not_ca",
    "eku_check",
    "end_entity_policy",
    "validate_ed25519_chain",
]


_NO_POLICY: Any = None  # the manual path calls the validators without a Policy


_ROLE_NAME = {
    SignerRole.DOCUMENT: "a document signer",
    SignerRole.AUDIT: "an audit signer",
    SignerRole.STATUS_LIST: "a status-list signer",
}
_EkuCheck = Callable[[Policy, x509.Certificate, x509.ExtendedKeyUsage], None]


def eku_check(role: SignerRole) -> _EkuCheck:
    """The EKU rule of ``role``: its own EKU present, no other role's EKU (one duty per key)."""
    required = ROLE_EKU[role]
    others: list[ObjectIdentifier] = [oid for r, oid in ROLE_EKU.items() if r is not role]

    def check(_policy: Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage) -> None:
        if required not in eku:
            raise ValueError(f"not {_ROLE_NAME[role]} (extendedKeyUsage)")
        if any(oid in eku for oid in others):
            raise ValueError(f"{_ROLE_NAME[role]} must not carry another role's extendedKeyUsage")

    return check


def check_key_usage(_policy: Policy, _cert: x509.Certificate, ku: x509.KeyUsage) -> None:
    if not ku.digital_signature or ku.key_cert_sign:
        raise ValueError("keyUsage is not digitalSignature only")


def check_not_ca(
    _policy: Policy, _cert: x509.Certificate, bc: x509.BasicConstraints | None
) -> None:
    if bc is not None and bc.ca:
        raise ValueError("a CA certificate cannot sign documents")


def end_entity_policy(role: SignerRole) -> ExtensionPolicy:
    return (
        ExtensionPolicy.permit_all()
        .require_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, eku_check(role))
        .require_present(x509.KeyUsage, Criticality.CRITICAL, check_key_usage)
        .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, check_not_ca)
    )


def validate_ed25519_chain(
    anchors: Sequence[x509.Certificate],
    leaf: x509.Certificate,
    path_time: dt.datetime,
    role: SignerRole,
) -> x509.Certificate:
    """The manual path for Ed25519 keys or signatures, which cryptography's web-PKI verifier
    forbids (an Ed25519 root certifies a P-256 audit signer with an Ed25519 signature).

    Checks what the verifier would for our one-level chain: a trusted root with the leaf's
    issuer name and a valid signature over the leaf, CA constraints of the root, validity of
    both at ``path_time``, and the same end-entity extension rules.
    """
    for root in anchors:
        if root.subject != leaf.issuer:
            continue
        try:
            leaf.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        break
    else:
        raise SignerValidationError(
            "signer chain does not validate: no trusted issuer", SignerFailure.CHAIN_INVALID
        )
    when = "at the signing time" if role is SignerRole.AUDIT else "now"
    for cert, what in ((root, "root"), (leaf, "signer")):
        if not cert.not_valid_before_utc <= path_time <= cert.not_valid_after_utc:
            raise SignerValidationError(
                f"signer chain does not validate: {what} not valid {when}",
                SignerFailure.CHAIN_INVALID,
            )
    try:
        bc = root.extensions.get_extension_for_class(x509.BasicConstraints).value
        ku = root.extensions.get_extension_for_class(x509.KeyUsage).value
        if not bc.ca or not ku.key_cert_sign:
            raise ValueError("root is not a CA")
        eku_check(role)(
            _NO_POLICY, leaf, leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
        check_key_usage(
            _NO_POLICY, leaf, leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        )
        try:
            leaf_bc: x509.BasicConstraints | None = leaf.extensions.get_extension_for_class(
                x509.BasicConstraints
            ).value
        except x509.ExtensionNotFound:
            leaf_bc = None
        check_not_ca(_NO_POLICY, leaf, leaf_bc)
    except (ValueError, x509.ExtensionNotFound) as exc:
        raise SignerValidationError(
            f"signer chain does not validate: {exc}", SignerFailure.CHAIN_INVALID
        ) from None
    return root
