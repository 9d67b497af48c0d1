"""The issuing authority's key life cycle: init, signing, rotation, revocation, CRLs, export.

Every operation that changes anything follows the same order, so an error leaves the disk
as it was ("nothing changed on disk"):

1. load the registry and check everything that can be checked (root validity, ids, store
   opens with the passphrase / PIN) before creating anything;
2. create keys, then certificate and CRL files (new names only: nothing is overwritten);
3. write the registry last, atomically.

If step 2 or 3 fails, :meth:`KeyManager._transaction` deletes the keys and files it created.
Time is always a parameter (``now``, UTC, tz-aware): nothing here reads the clock.

Two kinds of end-entity key are certified by the root, one duty each: document signers
(``ds-NNNN``, :meth:`KeyManager.sign`, permit records and endorsements) and audit signers
(``audit-NNNN``, :meth:`KeyManager.sign_audit`, audit-log checkpoints).  Both rotate when their
signing window closes, are revoked through the same CRL and are exported with their role.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .config import KeySettings, load_settings
from .diversify import MAX_KVN, CardStaticKeys, derive_card_keys
from .errors import (
    CorruptKeyFile,
    KeysExist,
    KeyStoreError,
    NoUsableSigner,
    RootExpired,
    UnknownKey,
    UnknownSigner,
)
from .fsutil import (
    PUBLIC_FILE_MODE,
    check_output_path,
    ensure_output_dir,
    ensure_private_dir,
    write_private_file,
    write_public_file,
)
from .profiles import (
    AUDIT_SIGNER_ALGORITHM,
    DAY,
    PkiPolicy,
    RevokedEntry,
    SignerRole,
    build_audit_signer_certificate,
    build_crl,
    build_root_certificate,
    build_signer_certificate,
)
from .registry import (
    REGISTRY_NAME,
    CrlRecord,
    MasterKeyRecord,
    Registry,
    RootRecord,
    SignerRecord,
    load_registry,
    save_registry,
)
from .rollover import (
    crl_duty_until,
    export_rollover,
    issue_retired_crls,
    local_trust_list,
    next_crl_number,
    rollover_root,
)
from .store import KeyHandle, KeyStore, open_store
from .trust import TrustList

__all__ = ["REVOCATION_REASONS", "KeyManager", "SignatureResult"]

log = logging.getLogger(__name__)

#: Key-id prefix and log / message wording of each role.
_PREFIX = {SignerRole.DOCUMENT: "ds", SignerRole.AUDIT: "audit"}
_WHAT = {SignerRole.DOCUMENT: "document signer", SignerRole.AUDIT: "audit signer"}

#: ``--reason`` values and their CRL reason codes.
REVOCATION_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
}


def _utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now.astimezone(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class SignatureResult:
    """A signature and the signer that made it."""

    signature: bytes
    signer_id: str
    certificate: x509.Certificate


class KeyManager:
    """Keys of one ``$PERMIT_HOME/keys`` directory and its store.

    The store is opened lazily: listing and exporting an up-to-date trust list need no
    passphrase or PIN.
    """

    def __init__(self, settings: KeySettings | None = None, store: KeyStore | None = None):
        self.settings = settings if settings is not None else load_settings()
        self.directory = self.settings.directory
        self._store = store
        self._registry: Registry | None = None
        self._lock_depth = 0
        self._stamp: tuple[int, int, int] | None = None

    def __enter__(self) -> KeyManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    @property
    def store(self) -> KeyStore:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @property
    def registry(self) -> Registry:
        """The registry, re-read when another manager or process has replaced the file
        (outside a locked write, so a long-lived signer never misses a revocation)."""
        if self._registry is not None and not self._lock_depth:
            if self._registry_stamp() != self._stamp:
                self._registry = None
        if self._registry is None:
            self._stamp = self._registry_stamp()
            self._registry = load_registry(self.directory)
        return self._registry

    def _registry_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = (self.directory / REGISTRY_NAME).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def initialised(self) -> bool:
        return (self.directory / REGISTRY_NAME).exists()

    # -- transactions ---------------------------------------------------------------------

    def _snapshot(self) -> set[Path]:
        if not self.directory.exists():
            return set()
        return set(self.directory.rglob("*"))

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold an exclusive ``flock`` on the keys directory (on its parent before ``init``).

        Serialises writers across processes (an API server rotating while an operator
        revokes).  The registry is re-read once the lock is held, so decisions are taken on
        the current state.  Re-entrant within one manager; no lock file is created.
        """
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        target = self.directory if self.directory.is_dir() else self.directory.parent
        fd = os.open(target, os.O_RDONLY) if target.is_dir() else None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_depth = 1
            self._registry = None
            yield
        finally:
            self._lock_depth = 0
            if fd is not None:
                os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[list[str]]:
        """Yield a list to append created key ids to; on error undo keys and new files."""
        before = self._snapshot()
        existed = self.directory.exists()
        created: list[str] = []
        try:
            yield created
        except BaseException:
            self._registry = None
            for key_id in reversed(created):
                with contextlib.suppress(KeyStoreError, Exception):
                    self.store.delete(key_id)
            for path in sorted(self._snapshot() - before, reverse=True):
                with contextlib.suppress(OSError):
                    path.rmdir() if path.is_dir() else path.unlink()
            if not existed:
                with contextlib.suppress(OSError):
                    self.directory.rmdir()
            raise

    # -- files ----------------------------------------------------------------------------

    def _write_pem(self, relative: str, pem: bytes) -> None:
        try:
            write_private_file(self.directory / relative, pem, exclusive=True)
        except FileExistsError:
            raise CorruptKeyFile(f"{relative} already exists in {self.directory}") from None

    def certificate(self, relative: str) -> x509.Certificate:
        path = self.directory / relative
        try:
            return x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError):
            raise CorruptKeyFile(f"certificate {relative} is missing or corrupted") from None

    def _public_pem(self, relative: str, *, crl: bool = False) -> bytes:
        """The bytes of a certificate or CRL file of the key directory, checked to parse.

        A missing or unreadable file is a CorruptKeyFile naming it (not an OSError that a
        caller could mistake for a failure to write somewhere else).
        """
        kind = "CRL" if crl else "certificate"
        try:
            data = (self.directory / relative).read_bytes()
            if crl:
                x509.load_pem_x509_crl(data)
            else:
                x509.load_pem_x509_certificate(data)
        except (OSError, ValueError):
            raise CorruptKeyFile(f"{kind} {relative} is missing or corrupted") from None
        return data

    def trust_list(self) -> TrustList:
        """Every root, link certificate and root CRL of this directory (files only): the
        local verifiers' trust list, valid across a root rollover."""
        return local_trust_list(self)

    def current_crl(self) -> x509.CertificateRevocationList:
        record = self.registry.crl
        if record is None:
            raise CorruptKeyFile("the registry names no CRL")
        try:
            return x509.load_pem_x509_crl((self.directory / record.file).read_bytes())
        except (OSError, ValueError):
            raise CorruptKeyFile(f"CRL {record.file} is missing or corrupted") from None

    # -- roots ----------------------------------------------------------------------------

    def root(self, now: dt.datetime) -> tuple[RootRecord, KeyHandle, x509.Certificate]:
        """The active root; raises :class:`RootExpired` unless it is valid at ``now``."""
        now = _utc(now)
        roots = [r for r in self.registry.roots if r.state == "active"]
        if not roots:
            raise CorruptKeyFile("the registry names no active root")
        record = roots[-1]
        if not record.not_before <= now < record.not_after:
            raise RootExpired(
                f"root {record.id} is not valid at {now.isoformat()} "
                f"(valid {record.not_before.isoformat()} to {record.not_after.isoformat()})"
            )
        cert = self.certificate(record.cert_file)
        handle = KeyHandle(self.store.kind, record.id, record.algorithm)
        return record, handle, cert

    def rollover_root(self, now: dt.datetime) -> RootRecord:
        """Renew the root: a new root, its link certificate from the current root, new
        document and audit signers under it (:mod:`keys.rollover`, docs/keys.md)."""
        with self._exclusive():
            return rollover_root(self, _utc(now))

    # -- init -----------------------------------------------------------------------------

    def init(self, now: dt.datetime, policy: PkiPolicy | None = None) -> Registry:
        """Create the root, the first document and audit signers, master key KVN 1 and the
        first CRL."""
        with self._exclusive():
            return self._init(now, policy)

    def _init(self, now: dt.datetime, policy: PkiPolicy | None = None) -> Registry:
        """Create the root, the first document and audit signers, master key KVN 1 and the
        first CRL."""
        now = _utc(now)
        policy = policy or PkiPolicy()
        if self.initialised():
            raise KeysExist(f"keys already exist in {self.directory}; refusing to overwrite")
        private = self.directory / "private"
        if private.exists() and any(private.iterdir()):
            raise KeysExist(f"key files already exist in {private}; refusing to overwrite")
        store = self.store
        store.check()
        if store.has_master_key(1):
            raise KeysExist("issuer master key KVN 1 already exists in the key store")
        with contextlib.suppress(UnknownKey):
            store.signing_key("root-01", policy.algorithm)
            raise KeysExist("a root key root-01 already exists in the key store")
        with self._transaction() as created:
            ensure_private_dir(self.directory)
            root_id = "root-01"
            handle = store.generate_signing_key(root_id, policy.algorithm)
            created.append(root_id)  # only keys we made are rolled back
            cert = build_root_certificate(store, handle, policy, now)
            cert_file = f"certs/{root_id}.pem"
            self._write_pem(cert_file, cert.public_bytes(serialization.Encoding.PEM))
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
            self._registry = registry
            self._new_signer(now, created)
            self._new_signer(now, created, SignerRole.AUDIT)
            store.generate_master_key(1)
            created.append("mk-001")
            registry.master_keys.append(MasterKeyRecord(1, now))
            self._issue_crl(now)
            save_registry(self.directory, registry)
        log.info("initialised keys in %s (store %s)", self.directory, store.kind)
        return registry

    # -- document and audit signers -------------------------------------------------------

    def _new_signer(
        self, now: dt.datetime, created: list[str], role: SignerRole = SignerRole.DOCUMENT
    ) -> SignerRecord:
        """Generate and certify a signer of ``role`` (inside a transaction; registry not saved).

        A document signer's certificate outlives its window by the longest permit validity
        (permits must verify as long as they are valid); an audit signer's ends with its
        window (checkpoints are verified at their own time).  Both are clipped to the root.
        """
        registry = self.registry
        root, root_handle, root_cert = self.root(now)
        policy = registry.policy
        what = _WHAT[role]
        if role is SignerRole.AUDIT:
            algorithm = AUDIT_SIGNER_ALGORITHM
            window = policy.audit_signing_window_days * DAY
            wanted = now + window
            build = build_audit_signer_certificate
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
        key_id = f"{_PREFIX[role]}-{seq:04d}"
        handle = self.store.generate_signing_key(key_id, algorithm)
        created.append(key_id)
        cert = build(
            self.store,
            root_handle,
            root_cert,
            self.store.public_key(handle),
            policy,
            seq,
            now,
            signing_not_after,
            not_after,
        )
        cert_file = f"certs/{key_id}.pem"
        self._write_pem(cert_file, cert.public_bytes(serialization.Encoding.PEM))
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

    def signer(self, signer_id: str) -> SignerRecord:
        """The document or audit signer ``signer_id`` (its ``role`` tells which)."""
        for record in [*self.registry.signers, *self.registry.audit_signers]:
            if record.id == signer_id:
                return record
        raise UnknownSigner(f"no document signer or audit signer {signer_id!r}")

    def usable_signer(
        self, now: dt.datetime, role: SignerRole = SignerRole.DOCUMENT
    ) -> SignerRecord | None:
        """The newest active signer of ``role`` that may sign at ``now`` (inside its window)."""
        now = _utc(now)
        signers = self.registry.signers_of(role)
        for record in sorted(signers, key=lambda s: s.seq, reverse=True):
            if record.state == "active" and record.in_window(now) and now < record.not_after:
                return record
        return None

    def usable_audit_signer(self, now: dt.datetime) -> SignerRecord | None:
        """The audit signer that may sign at ``now``, if any."""
        return self.usable_signer(now, SignerRole.AUDIT)

    def rotate_signer(
        self, now: dt.datetime, *, force: bool = True, role: SignerRole = SignerRole.DOCUMENT
    ) -> SignerRecord:
        """Certify a new signer (``force``) or only if no signer may sign at ``now``."""
        with self._exclusive():
            return self._rotate_signer(now, force=force, role=role)

    def rotate_audit_signer(self, now: dt.datetime, *, force: bool = True) -> SignerRecord:
        """Certify a new audit signer (``force``) or only if none may sign at ``now``.

        Also how a key directory made before audit signers existed gets its first one
        (``permit keys rotate --audit``; :meth:`sign_audit` does it on first use).
        """
        return self.rotate_signer(now, force=force, role=SignerRole.AUDIT)

    def _rotate_signer(
        self, now: dt.datetime, *, force: bool = True, role: SignerRole = SignerRole.DOCUMENT
    ) -> SignerRecord:
        """Certify a new signer (``force``) or only if no signer may sign at ``now``."""
        now = _utc(now)
        current = self.usable_signer(now, role)
        if current is not None and not force:
            return current
        self.root(now)  # RootExpired before anything is created
        self.store.check()
        with self._transaction() as created:
            record = self._new_signer(now, created, role)
            if self.registry.crl is None or self._crl_due(now):
                self._issue_crl(now)
            save_registry(self.directory, self.registry)
        return record

    def current_signer(
        self,
        now: dt.datetime,
        *,
        auto_rotate: bool = True,
        role: SignerRole = SignerRole.DOCUMENT,
    ) -> SignerRecord:
        """The signer of ``role`` to use at ``now``; rotates when its window has closed (or
        creates the first one)."""
        current = self.usable_signer(now, role)
        if current is not None:
            return current
        if not auto_rotate:
            raise NoUsableSigner(f"no {_WHAT[role]} may sign now (its window closed)")
        return self.rotate_signer(now, force=False, role=role)

    def current_audit_signer(self, now: dt.datetime, *, auto_rotate: bool = True) -> SignerRecord:
        """The audit signer to use at ``now`` (created or rotated if needed)."""
        return self.current_signer(now, auto_rotate=auto_rotate, role=SignerRole.AUDIT)

    def sign(self, data: bytes, now: dt.datetime) -> SignatureResult:
        """Sign a permit record or endorsement ``data`` with the current document signer.

        Housekeeping happens here too, so an authority that only signs stays correct: the
        signer is rotated when its window has closed and the CRL is reissued when it is
        within its refresh margin.
        """
        return self._sign_as(SignerRole.DOCUMENT, data, now)

    def sign_audit(self, data: bytes, now: dt.datetime) -> SignatureResult:
        """Sign an audit-log checkpoint ``data`` with the current audit signer.

        Never a document signer: the result's certificate carries the audit-signing EKU only.
        The same housekeeping as :meth:`sign` (rotation, CRL refresh); a key directory without
        an audit signer gets one here, under the keys directory's exclusive lock.
        """
        return self._sign_as(SignerRole.AUDIT, data, now)

    def _sign_as(self, role: SignerRole, data: bytes, now: dt.datetime) -> SignatureResult:
        record = self.current_signer(now, role=role)
        self.root(now)
        if self._crl_due(_utc(now)):
            self.refresh_crl(now)
        handle = KeyHandle(self.store.kind, record.id, record.algorithm)
        signature = self.store.sign(handle, data)
        return SignatureResult(signature, record.id, self.certificate(record.cert_file))

    # -- revocation and CRLs --------------------------------------------------------------

    def _crl_due(self, now: dt.datetime) -> bool:
        record = self.registry.crl
        margin = self.registry.policy.crl_refresh_margin_days * DAY
        return record is None or now >= record.next_update - margin

    def _issue_crl(self, now: dt.datetime) -> CrlRecord:
        """Sign and write the next CRL (inside a transaction; registry not saved)."""
        registry = self.registry
        root, handle, cert = self.root(now)
        number = next_crl_number(registry)
        revoked = [
            RevokedEntry(
                s.serial,
                s.revoked_at or now,
                REVOCATION_REASONS.get(s.revocation_reason or "", x509.ReasonFlags.unspecified),
            )
            for s in [*registry.signers, *registry.audit_signers]
            if s.state == "revoked" and s.root_id == root.id  # each root lists its own
        ]
        crl = build_crl(self.store, handle, cert, revoked, number, now, registry.policy)
        file = f"crl/crl-{number:06d}.pem"
        self._write_pem(file, crl.public_bytes(serialization.Encoding.PEM))
        assert crl.next_update_utc is not None
        registry.crl = CrlRecord(number, file, now, crl.next_update_utc)
        log.info("issued CRL %d (%d revoked)", number, len(revoked))
        issue_retired_crls(self, now)  # a rolled-over root's CRL goes with it
        return registry.crl

    def refresh_crl(self, now: dt.datetime, *, force: bool = False) -> bool:
        """Reissue the CRL if it is within the refresh margin of expiry; True if reissued."""
        with self._exclusive():
            return self._refresh_crl(now, force=force)

    def _refresh_crl(self, now: dt.datetime, *, force: bool = False) -> bool:
        """Reissue the CRL if it is within the refresh margin of expiry; True if reissued."""
        now = _utc(now)
        if not force and not self._crl_due(now):
            return False
        self.root(now)
        self.store.check()
        with self._transaction():
            self._issue_crl(now)
            save_registry(self.directory, self.registry)
        return True

    def revoke_signer(self, signer_id: str, reason: str, now: dt.datetime) -> SignerRecord:
        """Revoke a document or audit signer and reissue the CRL at once."""
        with self._exclusive():
            return self._revoke_signer(signer_id, reason, now)

    def _revoke_signer(self, signer_id: str, reason: str, now: dt.datetime) -> SignerRecord:
        """Revoke a signer and reissue the CRL at once."""
        now = _utc(now)
        if reason not in REVOCATION_REASONS:
            raise KeyStoreError(
                f"unknown revocation reason {reason!r} (one of {', '.join(REVOCATION_REASONS)})"
            )
        record = self.signer(signer_id)
        what = _WHAT[record.role]
        if record.state == "revoked":
            raise KeyStoreError(f"{what} {signer_id} is already revoked")
        self.root(now)
        self.store.check()
        with self._transaction():
            record.state, record.revoked_at, record.revocation_reason = "revoked", now, reason
            self._issue_crl(now)
            save_registry(self.directory, self.registry)
        log.warning("revoked %s %s (%s)", what, signer_id, reason)
        return record

    # -- master keys ----------------------------------------------------------------------

    def active_kvn(self) -> int:
        active = [m.kvn for m in self.registry.master_keys if m.state == "active"]
        if not active:
            raise UnknownKey("no active issuer master key")
        return max(active)

    def rotate_master_key(self, now: dt.datetime) -> int:
        """Create the next master key version; older versions stay usable for old cards."""
        with self._exclusive():
            return self._rotate_master_key(now)

    def _rotate_master_key(self, now: dt.datetime) -> int:
        """Create the next master key version; older versions stay usable for old cards."""
        now = _utc(now)
        kvn = max((m.kvn for m in self.registry.master_keys), default=0) + 1
        if kvn > MAX_KVN:
            raise KeyStoreError(f"no key version left (KVN is at most {MAX_KVN})")
        store = self.store
        store.check()
        if store.has_master_key(kvn):
            raise KeysExist(f"issuer master key KVN {kvn} already exists in the key store")
        with self._transaction() as created:
            store.generate_master_key(kvn)
            created.append(f"mk-{kvn:03d}")
            for old in self.registry.master_keys:
                old.state = "retired"
            self.registry.master_keys.append(MasterKeyRecord(kvn, now))
            save_registry(self.directory, self.registry)
        log.info("rotated issuer master key to KVN %d", kvn)
        return kvn

    def card_keys(self, serial: bytes, kvn: int | None = None) -> CardStaticKeys:
        """The static keys of a card (``kvn`` defaults to the active version)."""
        kvn = self.active_kvn() if kvn is None else kvn
        if kvn not in {m.kvn for m in self.registry.master_keys}:
            raise UnknownKey(f"no issuer master key KVN {kvn}")
        return derive_card_keys(self.store, kvn, serial)

    def scp03_key_provider(self) -> Callable[[bytes, int], Any]:
        """A ``card_service.card.scp03.KeyProvider``: (serial, kvn) -> ``StaticKeys``.

        The card's KVN (from INITIALIZE UPDATE) selects the master key version, so cards
        personalised under an older version stay endorsable after a rotation.
        """
        from card_service.card.scp03 import StaticKeys

        def provide(serial: bytes, kvn: int) -> Any:
            keys = self.card_keys(serial, kvn)
            return StaticKeys(enc=keys.enc, mac=keys.mac, dek=keys.dek)

        return provide

    # -- listing and export ---------------------------------------------------------------

    def describe(self, now: dt.datetime) -> dict[str, Any]:
        """Everything ``permit keys list`` shows (no secrets)."""
        now = _utc(now)
        registry = self.registry
        roots = []
        for r in registry.roots:
            row = r.to_json()
            if r.state == "active" and not r.not_before <= now < r.not_after:
                row["state"] = "expired"
            if r.state == "retired":
                row["crl_until"] = crl_duty_until(registry, r).isoformat()
            roots.append(row)
        windows = {
            SignerRole.DOCUMENT: registry.policy.signing_window_days,
            SignerRole.AUDIT: registry.policy.audit_signing_window_days,
        }
        signers: dict[SignerRole, list[dict[str, Any]]] = {}
        for role in SignerRole:
            signers[role] = []
            for s in registry.signers_of(role):
                row = s.to_json()
                row["state"] = s.effective_state(now)
                row["signing_window_days"] = windows[role]
                signers[role].append(row)
        return {
            "directory": str(self.directory),
            "store": registry.store,
            "policy": registry.policy.to_json(),
            "roots": roots,
            "signers": signers[SignerRole.DOCUMENT],
            "audit_signers": signers[SignerRole.AUDIT],
            "master_keys": [m.to_json() for m in registry.master_keys],
            "crl": None if registry.crl is None else registry.crl.to_json(),
        }

    def export_trust(self, target: Path, now: dt.datetime) -> Path:
        """Write root(s), the current CRL, document and audit signer certificates and
        ``manifest.json`` (``signers`` and ``audit_signers``, each entry with its ``role``).

        The CRL is reissued first if it is within its refresh margin (that needs the store).
        Returns the manifest path.
        """
        now = _utc(now)
        if self._crl_due(now):
            self.refresh_crl(now)
        registry = self.registry
        files: dict[str, bytes] = {}
        manifest: dict[str, Any] = {
            "format": "permit-trust-v1",
            "generated_at": now.isoformat(),
            "roots": [],
            "signers": [],
            "audit_signers": [],
            "crl": None,
        }
        for r in registry.roots:
            name = f"root-{r.id.removeprefix('root-')}.pem"
            files[name] = self._public_pem(r.cert_file)
            manifest["roots"].append(
                {"id": r.id, "file": name, "not_after": r.not_after.isoformat()}
            )
        for key, records in (
            ("signers", registry.signers),
            ("audit_signers", registry.audit_signers),
        ):
            for s in records:
                name = f"signer-{s.id}.pem"
                files[name] = self._public_pem(s.cert_file)
                manifest[key].append(
                    {
                        "id": s.id,
                        "role": s.role.value,
                        "file": name,
                        "state": s.effective_state(now),
                        "signing_not_after": s.signing_not_after.isoformat(),
                        "not_after": s.not_after.isoformat(),
                    }
                )
        if registry.crl is not None:
            files["crl.pem"] = self._public_pem(registry.crl.file, crl=True)
            manifest["crl"] = {
                "file": "crl.pem",
                "number": registry.crl.number,
                "next_update": registry.crl.next_update.isoformat(),
            }
        for entry in [
            *manifest["roots"],
            *manifest["signers"],
            *manifest["audit_signers"],
            *([manifest["crl"]] if manifest["crl"] else []),
        ]:
            entry["sha256"] = hashlib.sha256(files[entry["file"]]).hexdigest()
        export_rollover(self, files, manifest)  # links and retired roots' CRLs, hashed there
        # never through a link planted in ``target``; 0644: public material for verifiers
        ensure_output_dir(target)
        for name in [*files, "manifest.json"]:  # all refused before any is written
            check_output_path(target / name)
        for name, data in files.items():
            write_public_file(target / name, data, mode=PUBLIC_FILE_MODE)
        manifest_path = target / "manifest.json"
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        write_public_file(manifest_path, text.encode(), mode=PUBLIC_FILE_MODE)
        log.info("exported trust list to %s", target)
        return manifest_path
