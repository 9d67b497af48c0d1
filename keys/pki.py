"""The issuing authority's keys: :class:`KeyManager`, the one facade of a key directory.

It holds the store (opened lazily), the registry (re-read when another process replaced it),
the keys directory's exclusive lock and the transaction that undoes a failed change, and
offers every operation as a method; the work is done by one module per concern:

* :mod:`keys.lifecycle`: ``init``, document and audit signers, master key versions;
* :mod:`keys.crls`: revocation and CRLs; :mod:`keys.rollover`: root rollover;
* :mod:`keys.export`: the read-only views (``describe``, ``export_trust``).

Time is always a parameter (``now``, UTC, tz-aware): nothing here reads the clock.

Three kinds of end-entity key are certified by the root, one duty each: document signers
(``ds-NNNN``, :meth:`KeyManager.sign` / :meth:`KeyManager.document_signer`: permit records
and endorsements), audit signers (``audit-NNNN``, :meth:`KeyManager.sign_audit`: audit-log
checkpoints) and status-list signers (``status-NNNN``, :meth:`KeyManager.status_signer`:
Token Status Lists).  All rotate when their signing window closes and are revoked through
the same CRL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from . import crls, export, lifecycle
from .clock import utc_seconds as _utc
from .config import KeySettings, load_settings
from .crls import REVOCATION_REASONS
from .diversify import CardStaticKeys, StaticKeys, derive_card_keys
from .errors import (
    CorruptKeyFile,
    KeyStoreError,
    NoUsableSigner,
    RootExpired,
    UnknownKey,
    UnknownSigner,
    UnsupportedAlgorithm,
)
from .fsutil import write_private_file
from .profiles import ROLE_WORDING, PkiPolicy, SignerRole
from .registry import REGISTRY_NAME, Registry, RootRecord, SignerRecord, load_registry
from .rollover import local_trust_list, rollover_root
from .signer import DocumentSigner, StoreEcPrivateKey
from .store import Algorithm, KeyHandle, KeyStore, open_store
from .trust import TrustList

__all__ = ["REVOCATION_REASONS", "DocumentSigner", "KeyManager", "SignatureResult"]


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
        first CRL (:func:`keys.lifecycle.init_keys`)."""
        with self._exclusive():
            return lifecycle.init_keys(self, _utc(now), policy)

    # -- document and audit signers -------------------------------------------------------

    def signer(self, signer_id: str) -> SignerRecord:
        """The signer ``signer_id`` of any role (its ``role`` tells which)."""
        for record in self.registry.all_signers():
            if record.id == signer_id:
                return record
        raise UnknownSigner(
            f"no document signer or audit signer {signer_id!r}, nor a status-list signer"
        )

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
            return lifecycle.rotate_signer(self, _utc(now), force=force, role=role)

    def rotate_audit_signer(self, now: dt.datetime, *, force: bool = True) -> SignerRecord:
        """Certify a new audit signer (``force``) or only if none may sign at ``now``.

        Also how a key directory made before audit signers existed gets its first one
        (``permit keys rotate --audit``; :meth:`sign_audit` does it on first use).
        """
        return self.rotate_signer(now, force=force, role=SignerRole.AUDIT)

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
            raise NoUsableSigner(f"no {ROLE_WORDING[role]} may sign now (its window closed)")
        return self.rotate_signer(now, force=False, role=role)

    def current_audit_signer(self, now: dt.datetime, *, auto_rotate: bool = True) -> SignerRecord:
        """The audit signer to use at ``now`` (created or rotated if needed)."""
        return self.current_signer(now, auto_rotate=auto_rotate, role=SignerRole.AUDIT)

    def current_status_signer(self, now: dt.datetime, *, auto_rotate: bool = True) -> SignerRecord:
        """The status-list signer to use at ``now`` (created or rotated if needed)."""
        return self.current_signer(now, auto_rotate=auto_rotate, role=SignerRole.STATUS_LIST)

    def rotate_status_signer(self, now: dt.datetime, *, force: bool = True) -> SignerRecord:
        """Certify a new status-list signer (``force``) or only if none may sign at ``now``
        (also how a directory made before status-list signers gets its first one)."""
        return self.rotate_signer(now, force=force, role=SignerRole.STATUS_LIST)

    def document_signer(self, now: dt.datetime) -> DocumentSigner:
        """The document signer to sign permit records with at ``now``, with its chain.

        The root must be valid at ``now`` (:class:`RootExpired`); the signer is rotated when
        its window has closed, as :meth:`sign` does.  Records are signed with ES256, so a
        signer that is not ECDSA P-256 is :class:`UnsupportedAlgorithm`.
        """
        return self._es256_signer(SignerRole.DOCUMENT, now)

    def status_signer(self, now: dt.datetime) -> DocumentSigner:
        """The status-list signer to sign Token Status Lists with at ``now``: key and chain,
        as :meth:`document_signer` (rotated when its window has closed, created on first use
        in a directory made before status-list signers existed)."""
        return self._es256_signer(SignerRole.STATUS_LIST, now)

    def _es256_signer(self, role: SignerRole, now: dt.datetime) -> DocumentSigner:
        self.root(now)
        record = self.current_signer(now, role=role)
        if record.algorithm is not Algorithm.ECDSA_P256:
            raise UnsupportedAlgorithm(
                f"{ROLE_WORDING[role]}s sign with ES256; {record.id} uses {record.algorithm.value}"
            )
        handle = KeyHandle(self.store.kind, record.id, record.algorithm)
        key = StoreEcPrivateKey(self.store, handle)
        return DocumentSigner(record.id, key, (self.certificate(record.cert_file),))

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
        if crls.crl_due(self.registry, _utc(now)):
            self.refresh_crl(now)
        handle = KeyHandle(self.store.kind, record.id, record.algorithm)
        signature = self.store.sign(handle, data)
        return SignatureResult(signature, record.id, self.certificate(record.cert_file))

    # -- revocation and CRLs (keys.crls) --------------------------------------------------

    def refresh_crl(self, now: dt.datetime, *, force: bool = False) -> bool:
        """Reissue the CRL if it is within the refresh margin of expiry; True if reissued."""
        with self._exclusive():
            return crls.refresh_crl(self, _utc(now), force=force)

    def revoke_signer(self, signer_id: str, reason: str, now: dt.datetime) -> SignerRecord:
        """Revoke a document or audit signer and reissue the CRL at once."""
        with self._exclusive():
            return crls.revoke_signer(self, signer_id, reason, _utc(now))

    # -- master keys ----------------------------------------------------------------------

    def active_kvn(self) -> int:
        active = [m.kvn for m in self.registry.master_keys if m.state == "active"]
        if not active:
            raise UnknownKey("no active issuer master key")
        return max(active)

    def rotate_master_key(self, now: dt.datetime) -> int:
        """Create the next master key version; older versions stay usable for old cards."""
        with self._exclusive():
            return lifecycle.rotate_master_key(self, _utc(now))

    def card_keys(self, serial: bytes, kvn: int | None = None) -> CardStaticKeys:
        """The static keys of a card (``kvn`` defaults to the active version)."""
        kvn = self.active_kvn() if kvn is None else kvn
        if kvn not in {m.kvn for m in self.registry.master_keys}:
            raise UnknownKey(f"no issuer master key KVN {kvn}")
        return derive_card_keys(self.store, kvn, serial)

    def scp03_key_provider(self) -> Callable[[bytes, int], StaticKeys]:
        """A ``card_service.card.scp03.KeyProvider``: (serial, kvn) -> :class:`StaticKeys`.

        The card's KVN (from INITIALIZE UPDATE) selects the master key version, so cards
        personalised under an older version stay endorsable after a rotation.
        """
        return self.card_keys

    # -- listing and export (keys.export) -------------------------------------------------

    def describe(self, now: dt.datetime) -> dict[str, Any]:
        """Everything ``permit keys list`` shows (no secrets)."""
        return export.describe(self, _utc(now))

    def export_trust(self, target: Path, now: dt.datetime) -> Path:
        """Write root(s), the current CRL, document and audit signer certificates and
        ``manifest.json`` (``signers`` and ``audit_signers``, each entry with its ``role``).

        The CRL is reissued first if it is within its refresh margin (that needs the store).
        Returns the manifest path.
        """
        return export.export_trust(self, target, _utc(now))
