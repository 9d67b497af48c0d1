"""The key life cycle: ``init``, document, audit and status-list signers, master keys.

Every operation that changes anything follows the same order, so an error leaves the disk as
it was ("nothing changed on disk"):

1. load the registry and check everything that can be checked (root validity, ids, store
   opens with the passphrase / PIN) before creating anything;
2. create keys, then certificate and CRL files (new names only: nothing is overwritten);
3. write the registry last, atomically.

If step 2 or 3 fails, ``KeyManager._transaction`` deletes the keys and files it created.
The functions take the :class:`~keys.pki.KeyManager`, run under its exclusive lock (its public
methods take it) and get ``now`` as UTC in whole seconds (:func:`keys.clock.utc_seconds`).
Revocation and CRLs are :mod:`keys.crls`, root rollover :mod:`keys.rollover`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from .crls import crl_due, issue_crl
from .diversify import MAX_KVN
from .errors import KeysExist, KeyStoreError, UnknownKey
from .fsutil import ensure_private_dir
from .profiles import (
    AUDIT_SIGNER_ALGORITHM,
    DAY,
    ROLE_KEY_PREFIX,
    ROLE_WORDING,
    STATUS_SIGNER_ALGORITHM,
    STATUS_SIGNER_GRACE,
    PkiPolicy,
    SignerRole,
    build_audit_signer_certificate,
    build_root_certificate,
    build_signer_certificate,
    build_status_signer_certificate,
)
from .registry import MasterKeyRecord, Registry, RootRecord, SignerRecord, save_registry

if TYPE_CHECKING:
    from .pki import KeyManager

__all__ = ["init_keys", "new_signer", "rotate_master_key", "rotate_signer"]

log = logging.getLogger(__name__)


def init_keys(manager: KeyManager, now: dt.datetime, policy: PkiPolicy | None = None) -> Registry:
    """Create the root, the first document, audit and status-list signers, master key KVN 1
    and the first CRL; refuse (:class:`KeysExist`) to overwrite anything."""
    policy = policy or PkiPolicy()
    directory = manager.directory
    if manager.initialised():
        raise KeysExist(f"keys already exist in {directory}; refusing to overwrite")
    private = directory / "private"
    if private.exists() and any(private.iterdir()):
        raise KeysExist(f"key files already exist in {private}; refusing to overwrite")
    store = manager.store
    store.check()
    if store.has_master_key(1):
        raise KeysExist("issuer master key KVN 1 already exists in the key store")
    with contextlib.suppress(UnknownKey):
        store.signing_key("root-01", policy.algorithm)
        raise KeysExist("a root key root-01 already exists in the key store")
    with manager._transaction() as created:
        ensure_private_dir(directory)
        root_id = "root-01"
        handle = store.generate_signing_key(root_id, policy.algorithm)
        created.append(root_id)  # only keys we made are rolled back
        cert = build_root_certificate(store, handle, policy, now)
        cert_file = f"certs/{root_id}.pem"
        manager._write_pem(cert_file, cert.public_bytes(serialization.Encoding.PEM))
        registry = Registry(store=store.kind, policy=policy)
        registry.roots.append(
            RootRecord(
                root_id,
                policy.algorithm,
                cert_file,
                cert.serial_number,
                cert.not_valid_before_utc,
                cert.not_valid_after_utc,
            )
        )
        manager._registry = registry
        new_signer(manager, now, created)
        new_signer(manager, now, created, SignerRole.AUDIT)
        new_signer(manager, now, created, SignerRole.STATUS_LIST)
        store.generate_master_key(1)
        created.append("mk-001")
        registry.master_keys.append(MasterKeyRecord(1, now))
        issue_crl(manager, now)
        save_registry(directory, registry)
    log.info("initialised keys in %s (store %s)", directory, store.kind)
    return registry


def new_signer(
    manager: KeyManager,
    now: dt.datetime,
    created: list[str],
    role: SignerRole = SignerRole.DOCUMENT,
) -> SignerRecord:
    """Generate and certify a signer of ``role`` (inside a transaction; registry not saved).

    A document signer's certificate outlives its window by the longest permit validity
    (permits must verify as long as they are valid); an audit signer's ends with its window
    (checkpoints are verified at their own time); a status-list signer's ends
    :data:`~keys.profiles.STATUS_SIGNER_GRACE` after its window (a list is verified while it
    is current, and lives hours).  All are clipped to the root.
    """
    registry = manager.registry
    store = manager.store
    root, root_handle, root_cert = manager.root(now)
    policy = registry.policy
    what = ROLE_WORDING[role]
    if role is SignerRole.AUDIT:
        algorithm = AUDIT_SIGNER_ALGORITHM
        window = policy.audit_signing_window_days * DAY
        wanted = now + window
        build = build_audit_signer_certificate
    elif role is SignerRole.STATUS_LIST:
        algorithm = STATUS_SIGNER_ALGORITHM
        window = policy.signing_window_days * DAY
        wanted = now + window + STATUS_SIGNER_GRACE
        build = build_status_signer_certificate
    else:
        algorithm = policy.algorithm
        window = policy.signing_window_days * DAY
        wanted = now + window + policy.permit_validity_days * DAY
        build = build_signer_certificate
    not_after = min(wanted, root.not_after)
    signing_not_after = min(now + window, not_after)
    if not_after < wanted:
        log.warning(
            "root %s expires before the certificate of a new %s would; renew the root",
            root.id,
            what,
        )
    signers = registry.signers_of(role)
    seq = max((s.seq for s in signers), default=0) + 1
    key_id = f"{ROLE_KEY_PREFIX[role]}-{seq:04d}"
    handle = store.generate_signing_key(key_id, algorithm)
    created.append(key_id)
    cert = build(
        store,
        root_handle,
        root_cert,
        store.public_key(handle),
        policy,
        seq,
        now,
        signing_not_after,
        not_after,
    )
    cert_file = f"certs/{key_id}.pem"
    manager._write_pem(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    for old in signers:
        if old.state == "active":
            old.state = "retired"
    record = SignerRecord(
        key_id,
        seq,
        algorithm,
        root.id,
        cert_file,
        cert.serial_number,
        now,
        signing_not_after,
        not_after,
        role=role,
    )
    signers.append(record)
    log.info("certified %s %s (signs until %s)", what, key_id, signing_not_after.isoformat())
    return record


def rotate_signer(
    manager: KeyManager,
    now: dt.datetime,
    *,
    force: bool = True,
    role: SignerRole = SignerRole.DOCUMENT,
) -> SignerRecord:
    """Certify a new signer (``force``) or only if no signer may sign at ``now``; the CRLs
    are reissued too when due; the registry is saved."""
    current = manager.usable_signer(now, role)
    if current is not None and not force:
        return current
    manager.root(now)  # RootExpired before anything is created
    manager.store.check()
    with manager._transaction() as created:
        record = new_signer(manager, now, created, role)
        if crl_due(manager.registry, now):
            issue_crl(manager, now)
        save_registry(manager.directory, manager.registry)
    return record


def rotate_master_key(manager: KeyManager, now: dt.datetime) -> int:
    """Create the next master key version; older versions stay usable for old cards."""
    registry = manager.registry
    kvn = max((m.kvn for m in registry.master_keys), default=0) + 1
    if kvn > MAX_KVN:
        raise KeyStoreError(f"no key version left (KVN is at most {MAX_KVN})")
    store = manager.store
    store.check()
    if store.has_master_key(kvn):
        raise KeysExist(f"issuer master key KVN {kvn} already exists in the key store")
    with manager._transaction() as created:
        store.generate_master_key(kvn)
        created.append(f"mk-{kvn:03d}")
        for old in registry.master_keys:
            old.state = "retired"
        registry.master_keys.append(MasterKeyRecord(kvn, now))
        save_registry(manager.directory, registry)
    log.info("rotated issuer master key to KVN %d", kvn)
    return kvn
