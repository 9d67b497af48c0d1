"""The administrator's use cases: the register database, the audit log, the authority's keys
and the readers."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlmodel import Session

from card_service.audit import (
    AuditReport,
    WitnessDir,
    create_checkpoint,
    rewitness,
    verify_audit_log,
)
from card_service.migrations import upgrade
from card_service.register.db import redacted_url
from keys.diversify import CardStaticKeys
from keys.errors import KeyStoreError, SignerValidationError
from keys.pki import REVOCATION_REASONS
from keys.profiles import ROLE_WORDING, PkiPolicy, SignerRole
from keys.store import Algorithm
from keys.trust import load_trust_dir

from .cards import open_card_access
from .core import OfficeCore
from .errors import RequestInvalid, StorageError, TrustUnavailable
from .results import (
    AuditSeal,
    KeyRotation,
    KeysInitialised,
    ReaderStatus,
    RegisterMigrated,
    RootRolledOver,
    SignerRevoked,
)

__all__ = ["ALGORITHMS", "POLICY_DEFAULTS", "REVOCATION_REASONS", "AdminUseCases"]

#: The key policy ``init_keys`` starts from (argument defaults of entry points).
POLICY_DEFAULTS = PkiPolicy()
#: Signature algorithms a root and its signers may use.
ALGORITHMS = tuple(a.value for a in Algorithm)


def _role_name(role: SignerRole) -> str:
    return ROLE_WORDING[role]


@contextlib.contextmanager
def _key_files() -> Iterator[None]:
    """A file-system failure around the key directory: one line naming the file."""
    try:
        yield
    except KeyStoreError:
        raise
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise StorageError(f"{exc.strerror or type(exc).__name__}{where}") from None


class AdminUseCases(OfficeCore):
    """Register, audit, key and reader administration (mixed into :class:`~.office.Office`)."""

    # -- register ------------------------------------------------------------------------

    def migrate_register(self) -> RegisterMigrated:
        """Create or upgrade the register tables."""
        engine = self.engine
        with self.database("migration failed ({name})"):
            upgrade(engine)
        return RegisterMigrated(redacted_url(engine.url.render_as_string(False)))

    # -- audit log -----------------------------------------------------------------------

    def audit_verify(
        self,
        now: dt.datetime,
        *,
        trust_dir: Path | None = None,
        witness: Path | None = None,
        configured_witness: bool = False,
        every: int | None = None,
    ) -> AuditReport:
        """Check the whole hash chain, its checkpoints (signed by audit signers under
        ``trust_dir``'s trust list, default the local one) and the cadence ``every``
        (default ``PERMIT_AUDIT_CHECKPOINT_EVERY``); with ``witness`` (or the configured
        witness directory) that the log extends every witnessed checkpoint.  A bad log is
        the report's, not an exception."""
        try:
            trust = self.trust_list() if trust_dir is None else load_trust_dir(trust_dir)
        except (KeyStoreError, SignerValidationError) as exc:
            raise TrustUnavailable(f"no trust list: {exc}") from None
        directory = self.settings.witness_dir() if configured_witness else witness
        if directory is not None and not directory.is_dir():
            # a typo must not read as "nothing witnessed"
            raise RequestInvalid(
                f"no witness directory at {directory} (it is made by the first checkpoint)"
            )
        cadence = every if every is not None else self.settings.checkpoint_every()
        engine = self.engine
        with self.database("cannot read the audit log ({name})"), Session(engine) as session:
            return verify_audit_log(
                session,
                trust,
                now,
                witness=None if directory is None else WitnessDir(directory),
                every=cadence,
            )

    def audit_seal(self, now: dt.datetime) -> AuditSeal:
        """Write missing witness files, make due checkpoints, then sign one over the last
        entry now with the key store's audit signer (created on first use)."""
        witness = WitnessDir(self.settings.witness_dir())
        every = self.settings.checkpoint_every()
        engine = self.engine
        try:
            with self.database("cannot write the audit log ({name})"):
                written = rewitness(engine, witness)
                sealed = create_checkpoint(
                    engine, self.key_manager(), now, witness=witness, every=every
                )
        except OSError as exc:
            raise StorageError(f"cannot write the witness ({exc.strerror})") from None
        return AuditSeal(tuple(written), sealed)

    # -- keys ----------------------------------------------------------------------------

    def init_keys(self, now: dt.datetime, **policy: Any) -> KeysInitialised:
        """Create the root, the first document and audit signers and master key KVN 1 under
        a :class:`~keys.profiles.PkiPolicy` of ``policy`` (names, ``algorithm`` by value,
        periods in days); a bad value is :class:`RequestInvalid`."""
        try:
            if "algorithm" in policy:
                policy["algorithm"] = Algorithm(policy["algorithm"])
            chosen = PkiPolicy(**policy)
        except ValueError as exc:
            raise RequestInvalid(str(exc)) from None
        manager = self.key_manager()
        with _key_files():
            registry = manager.init(now, chosen)
        return KeysInitialised(
            manager.directory,
            registry.store,
            registry.roots[0].id,
            registry.signers[-1].id,
            registry.audit_signers[-1].id,
        )

    def describe_keys(self, now: dt.datetime) -> dict[str, Any]:
        """Roots, document and audit signers, master keys and the CLR, with their states."""
        with _key_files():
            return self.key_manager().describe(now)

    def rotate_keys(
        self,
        now: dt.datetime,
        *,
        audit: bool = False,
        master_key: bool = False,
        if_due: bool = False,
        status_list: bool = False,
    ) -> KeyRotation:
        """Certify a new document (or ``audit``, or ``status_list``) signer and refresh the
        CRL - with ``if_due`` only when none may sign now - or rotate the issuer
        ``master_key``."""
        manager = self.key_manager()
        with _key_files():
            if master_key:
                kvn = manager.rotate_master_key(now)
                return KeyRotation("master key", f"KVN {kvn}", kvn=kvn)
            role = (
                SignerRole.AUDIT
                if audit
                else SignerRole.STATUS_LIST
                if status_list
                else SignerRole.DOCUMENT
            )
            before = manager.usable_signer(now, role)
            record = manager.rotate_signer(now, force=not if_due, role=role)
            manager.refresh_crl(now)
        unchanged = before is not None and record.id == before.id
        return KeyRotation(_role_name(role), record.id, unchanged, record.signing_not_after)

    def revoke_signer(self, signer_id: str, reason: str, now: dt.datetime) -> SignerRevoked:
        """Revoke a document or audit signer (``reason`` from :data:`REVOCATION_REASONS`) and
        reissue the CRL."""
        manager = self.key_manager()
        with _key_files():
            record = manager.revoke_signer(signer_id, reason, now)
            number = manager.registry.crl.number if manager.registry.crl else 0
        return SignerRevoked(_role_name(record.role), record.id, number)

    def rollover_root(self, now: dt.datetime) -> RootRolledOver:
        """Renew the root: a new root certified by the old one (link), new signers under it."""
        manager = self.key_manager()
        with _key_files():
            old = manager.root(now)[0]
            new = manager.rollover_root(now)
            signer, auditor = manager.registry.signers[-1], manager.registry.audit_signers[-1]
        return RootRolledOver(old.id, new.id, new.link_file, signer.id, auditor.id)

    def export_trust(self, directory: Path, now: dt.datetime) -> Path:
        """Write roots, links, CRLs, signers and a manifest to ``directory``; the manifest."""
        if directory.exists() and not directory.is_dir():
            raise StorageError(f"{directory} exists and is not a directory")
        manager = self.key_manager()
        try:
            return manager.export_trust(directory, now)
        except KeyStoreError:
            raise
        except OSError as exc:
            # Reading the key directory fails as CorruptKeyFile: this is the target.
            where = f" ({exc.filename})" if exc.filename else ""
            reason = exc.strerror or type(exc).__name__
            raise StorageError(
                f"cannot write the trust list to {directory}: {reason}{where}"
            ) from None

    def keys_initialised(self) -> bool:
        """Whether the key store holds an authority (``init_keys`` was run)."""
        return self.key_manager().initialised()

    def card_keys(self, serial: bytes) -> CardStaticKeys:
        """The SCP03 static keys of the card ``serial`` (derived inside the key store)."""
        return self.key_manager().card_keys(serial)

    # -- readers -------------------------------------------------------------------------

    def readers(self, driver: str | None = None) -> list[ReaderStatus]:
        """The readers of ``driver`` (default ``PERMIT_READERS``) and whether each holds a
        card."""
        cards = self.cards if driver is None else open_card_access(self.settings, driver)
        return [ReaderStatus(r.name, r.card_present, r.atr) for r in cards.readers()]
