"""The trust list as downloaded (``GET /v1/trust``): a manifest and its files in memory.

``permit trust fetch`` checks what it downloaded before it writes anything: every file the
manifest names (with its ``sha256``, as ``permit keys export-trust`` writes it), every
certificate and CRL issued by a root of the same data (:func:`check_bundle`), and optionally
one root pinned by its SHA-256 fingerprint, compared out of band: a trust list fetched over
a network is only as trustworthy as the root it names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .errors import SignerFailure, SignerValidationError
from .links import issued_by
from .trust import TrustList, member_path, trust_of_manifest

__all__ = ["BundleCheck", "check_bundle", "root_fingerprint", "trust_from_bundle"]

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _refuse(message: str) -> SignerValidationError:
    return SignerValidationError(message, SignerFailure.TRUST_LIST_UNREADABLE)


def root_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lower-case hex (what ``--expect-root`` compares)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def trust_from_bundle(manifest: object, files: Mapping[str, bytes]) -> TrustList:
    """The trust list of ``manifest`` and ``files`` (name -> bytes), by the rules of
    :func:`keys.trust.load_trust_dir`, and every named file matching its ``sha256``.
    Any problem is a :class:`SignerValidationError` (``TRUST_LIST_UNREADABLE``)."""

    def member(name: object) -> bytes:
        member_path(Path("."), name)  # a plain file name, as in a directory
        assert isinstance(name, str)
        return files[name]

    try:
        if not isinstance(manifest, dict):
            raise TypeError("manifest is not a JSON object")
        entries = [e for k in ("roots", "signers", "audit_signers", "links", "root_crls")
                   for e in manifest.get(k, [])]  # fmt: skip
        if manifest.get("crl"):
            entries.append(manifest["crl"])
        for entry in entries:
            if not isinstance(entry, dict):
                raise TypeError("manifest entry is not an object")
            digest = entry.get("sha256")
            if digest is not None and (
                type(digest) is not str
                or not _HEX64.fullmatch(digest)
                or digest != hashlib.sha256(member(entry["file"])).hexdigest()
            ):
                raise ValueError("a file does not match its manifest sha256")
        return trust_of_manifest(manifest, member)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise _refuse(f"unusable trust data: {type(exc).__name__}") from None


@dataclass(frozen=True)
class BundleCheck:
    """What :func:`check_bundle` found: the roots' fingerprints."""

    root_fingerprints: tuple[str, ...]


def check_bundle(trust: TrustList, *, expect_root: str | None = None) -> BundleCheck:
    """Every root self-signed, every signer, audit signer and link certificate issued by one
    of the roots, every CRL signed by one; ``expect_root`` (SHA-256 hex) one of the roots."""
    if not trust.roots:
        raise _refuse("the trust data names no root")
    for root in trust.roots:
        if not issued_by(root, root):
            raise _refuse("a root certificate is not self-signed")
    for cert in (*trust.signers, *trust.audit_signers, *trust.links):
        if not any(issued_by(cert, root) for root in trust.roots):
            raise _refuse("a certificate of the trust data is not issued by its root")
    for crl in trust.crls:
        if not any(
            crl.issuer == root.subject and crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
            for root in trust.roots
        ):
            raise _refuse("a CRL of the trust data is not signed by its root")
    prints = tuple(root_fingerprint(root) for root in trust.roots)
    if expect_root is not None and expect_root.lower() not in prints:
        raise _refuse("no root of the trust data has the expected fingerprint")
    return BundleCheck(prints)
