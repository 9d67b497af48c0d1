"""Root rollover in the manner of ICAO 9303-12 CSCA link certificates.

A root (20 years by default) expires long before the city stops verifying the cards of its last
years, and its key should not be used forever.  :func:`rollover_root` replaces it:

1. a new root key and a new self-signed root certificate with the **same subject name**
   (``root-NN``, the next number);
2. a **link certificate**: subject = the new root's subject, public key = the new root's key,
   issuer = the old root, signed by the old root's key, with the root's CA profile
   (``basicConstraints`` CA:TRUE with the root's pathLen, critical; ``keyUsage`` keyCertSign +
   cRLSign, critical; AKI = the old root's SKI; SKI = the new key's).  Because the names are
   equal the link is *self-issued* and does not count against pathLen 0 (RFC 5280 6.1.4 (l)),
   which is how OpenSSL and ICAO verifiers chain a new document signer to the old root;
3. a new document signer and a new audit signer certified by the new root (the old ones are
   retired: they never sign again but verify as long as their certificates are valid), and the
   first CRL of the new root.

The old root becomes ``retired``: it never certifies again, but it keeps signing **its own
CRL** (reissued together with the active root's) until :func:`crl_duty_until`, the end of the
last certificate it issued (its signers and the link, which is valid until the old root
expires), so a verifier can always learn that a signer under the old root, or the link itself,
was revoked.  After that nothing it issued is valid and its CRL is no longer needed.

The link is valid from the rollover to the old root's expiry (clipped to the new root's): a
verifier that holds only the old root can verify new signers through the link and must install
the new root (which the link authenticates) before the old root expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .crls import crl_duty_until, issue_crl, issue_retired_crls, next_crl_number
from .errors import CorruptKeyFile, KeysExist, KeyStoreError, UnknownKey
from .lifecycle import new_signer
from .profiles import SignerRole, build_root_certificate, hash_for, root_ca_constraints
from .registry import RootRecord, save_registry
from .signer import store_private_key
from .store import KeyHandle, KeyStore
from .trust import TrustList

if TYPE_CHECKING:
    from .pki import KeyManager

__all__ = [
    "build_link_certificate",
    "crl_duty_until",
    "export_rollover",
    "issue_retired_crls",
    "local_trust_list",
    "next_crl_number",
    "rollover_root",
]

log = logging.getLogger(__name__)


def build_link_certificate(
    store: KeyStore,
    old_handle: KeyHandle,
    old_cert: x509.Certificate,
    new_cert: x509.Certificate,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """The link certificate: ``new_cert``'s subject and key, certified by the old root."""
    old_ski = old_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    public = new_cert.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(new_cert.subject)
        .issuer_name(old_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in root_ca_constraints():
        builder = builder.add_extension(extension, critical=critical)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(public),
        critical=False,
    ).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(old_ski), critical=False
    )
    return builder.sign(store_private_key(store, old_handle), hash_for(old_handle.algorithm))


def rollover_root(manager: KeyManager, now: dt.datetime) -> RootRecord:
    """Create the next root, its link certificate from the current root and new signers
    under it (the caller holds the keys directory's lock; ``now`` is UTC)."""
    registry = manager.registry
    old, old_handle, old_cert = manager.root(now)  # RootExpired: a dead root cannot link
    number = len(registry.roots) + 1
    new_id = f"root-{number:02d}"
    if any(r.id == new_id for r in registry.roots):
        raise KeyStoreError(f"the registry already names a root {new_id}")
    store = manager.store
    store.check()
    try:
        store.signing_key(new_id, registry.policy.algorithm)
    except UnknownKey:
        pass
    else:
        raise KeysExist(f"a root key {new_id} already exists in the key store")
    policy = registry.policy
    with manager._transaction() as created:
        handle = store.generate_signing_key(new_id, policy.algorithm)
        created.append(new_id)
        new_cert = build_root_certificate(store, handle, policy, now)
        cert_file = f"certs/{new_id}.pem"
        manager._write_pem(cert_file, new_cert.public_bytes(serialization.Encoding.PEM))
        link_not_after = min(old.not_after, new_cert.not_valid_after_utc)
        link = build_link_certificate(store, old_handle, old_cert, new_cert, now, link_not_after)
        link_file = f"certs/link-{old.id}-{new_id}.pem"
        manager._write_pem(link_file, link.public_bytes(serialization.Encoding.PEM))
        old.state = "retired"
        old.crl, registry.crl = registry.crl, None
        registry.roots.append(
            RootRecord(
                new_id,
                policy.algorithm,
                cert_file,
                new_cert.serial_number,
                new_cert.not_valid_before_utc,
                new_cert.not_valid_after_utc,
                link_file=link_file,
            )
        )
        new_signer(manager, now, created)
        new_signer(manager, now, created, SignerRole.AUDIT)
        if registry.status_signers:  # a directory that has one keeps one under the new root
            new_signer(manager, now, created, SignerRole.STATUS_LIST)
        issue_crl(manager, now)  # the new root's first CRL and the old root's next one
        save_registry(manager.directory, registry)
    log.warning(
        "rolled the root over from %s to %s; %s keeps signing its CRL until %s",
        old.id,
        new_id,
        old.id,
        crl_duty_until(registry, old).isoformat(),
    )
    return registry.roots[-1]


def export_rollover(manager: KeyManager, files: dict[str, bytes], manifest: dict[str, Any]) -> None:
    """Add the link certificates and the retired roots' CRLs to a trust-list export.

    ``links``: one entry per link (``file``, ``issuer`` root id, ``subject`` root id,
    ``not_after``); ``root_crls``: the CRL of each retired root still on duty, with its
    ``root`` id.  ``crl`` stays the active root's CRL.
    """
    registry = manager.registry
    manifest["links"], manifest["root_crls"] = [], []
    previous: RootRecord | None = None
    for root in registry.roots:
        if root.link_file is not None and previous is not None:
            name = f"link-{previous.id}-{root.id}.pem"
            files[name] = manager._public_pem(root.link_file)
            cert = x509.load_pem_x509_certificate(files[name])
            manifest["links"].append(
                {
                    "file": name,
                    "issuer": previous.id,
                    "subject": root.id,
                    "not_after": cert.not_valid_after_utc.isoformat(),
                    "sha256": hashlib.sha256(files[name]).hexdigest(),
                }
            )
        if root.state == "retired" and root.crl is not None:
            name = f"crl-{root.id}.pem"
            files[name] = manager._public_pem(root.crl.file, crl=True)
            manifest["root_crls"].append(
                {
                    "file": name,
                    "root": root.id,
                    "number": root.crl.number,
                    "next_update": root.crl.next_update.isoformat(),
                    "sha256": hashlib.sha256(files[name]).hexdigest(),
                }
            )
        previous = root


def local_trust_list(manager: KeyManager) -> TrustList:
    """What ``export-trust`` would give a verifier, read from the key directory (files only,
    no passphrase): every root, every link certificate and each root's current CRL."""
    registry = manager.registry
    roots = tuple(manager.certificate(r.cert_file) for r in registry.roots)
    links = tuple(manager.certificate(r.link_file) for r in registry.roots if r.link_file)
    records = [registry.crl, *(r.crl for r in registry.roots if r.state == "retired")]
    crls = []
    for record in records:
        if record is None:
            continue
        try:
            crls.append(x509.load_pem_x509_crl((manager.directory / record.file).read_bytes()))
        except (OSError, ValueError):
            raise CorruptKeyFile(f"CRL {record.file} is missing or corrupted") from None
    return TrustList(roots, tuple(crls), links=links)
