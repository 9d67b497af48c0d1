"""Revocation and the authority's CRLs (the writing side of the key life cycle).

Each root signs its own CRL, listing the revoked signers it certified: the active root's is
``Registry.crl``; a root retired by a rollover keeps signing its own (``RootRecord.crl``) until
:func:`crl_duty_until` (:mod:`keys.rollover`).  All CRLs are issued together, numbered by one
counter (:func:`next_crl_number`), so a revocation reaches every list at once.

The functions take the :class:`~keys.pki.KeyManager` and run inside its exclusive lock and, for
those that write, inside its transaction (the registry is saved by the caller unless a
function says otherwise); the manager's public methods take the lock.  How a *verifier* picks a
CRL is elsewhere: :func:`keys.links.crl_of` / :func:`keys.links.current_crl`, the one rule.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .errors import KeyStoreError
from .profiles import DAY, ROLE_WORDING, RevokedEntry, build_crl
from .registry import CrlRecord, Registry, RootRecord, SignerRecord, save_registry
from .store import KeyHandle

if TYPE_CHECKING:
    from .pki import KeyManager

__all__ = [
    "REVOCATION_REASONS",
    "crl_due",
    "crl_duty_until",
    "issue_crl",
    "issue_retired_crls",
    "next_crl_number",
    "refresh_crl",
    "revoke_signer",
    "revoked_entries",
]

log = logging.getLogger(__name__)

#: ``--reason`` values and their CRL reason codes.
REVOCATION_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
}


def crl_due(registry: Registry, now: dt.datetime) -> bool:
    """There is no CRL yet, or the active root's is within its refresh margin at ``now``."""
    record = registry.crl
    margin = registry.policy.crl_refresh_margin_days * DAY
    return record is None or now >= record.next_update - margin


def next_crl_number(registry: Registry) -> int:
    """One counter for every root's CRLs: numbers (and file names) never repeat."""
    numbers = [c.number for c in [registry.crl, *(r.crl for r in registry.roots)] if c]
    return max(numbers, default=0) + 1


def crl_duty_until(registry: Registry, root: RootRecord) -> dt.datetime:
    """Until when ``root`` must keep signing CRLs: the end of the last certificate it issued
    (its document and audit signers, and the link to its successor)."""
    ends = [s.not_after for s in registry.all_signers() if s.root_id == root.id]
    index = registry.roots.index(root)
    if index + 1 < len(registry.roots):
        successor = registry.roots[index + 1]
        if successor.link_file is not None:
            ends.append(min(root.not_after, successor.not_after))
    return max(ends, default=root.not_before)


def revoked_entries(registry: Registry, root_id: str, now: dt.datetime) -> list[RevokedEntry]:
    """The revoked document and audit signers certified by ``root_id`` (each root lists its
    own), with their reason codes."""
    return [
        RevokedEntry(
            s.serial,
            s.revoked_at or now,
            REVOCATION_REASONS.get(s.revocation_reason or "", x509.ReasonFlags.unspecified),
        )
        for s in registry.all_signers()
        if s.state == "revoked" and s.root_id == root_id
    ]


def _write_crl(
    manager: KeyManager, root: RootRecord, cert: x509.Certificate, now: dt.datetime
) -> tuple[CrlRecord, int]:
    """Sign and write ``root``'s next CRL; its record and the number of entries."""
    registry = manager.registry
    number = next_crl_number(registry)
    revoked = revoked_entries(registry, root.id, now)
    handle = KeyHandle(manager.store.kind, root.id, root.algorithm)
    crl = build_crl(manager.store, handle, cert, revoked, number, now, registry.policy)
    file = f"crl/crl-{number:06d}.pem"
    manager._write_pem(file, crl.public_bytes(serialization.Encoding.PEM))
    assert crl.next_update_utc is not None
    return CrlRecord(number, file, now, crl.next_update_utc), len(revoked)


def issue_crl(manager: KeyManager, now: dt.datetime) -> CrlRecord:
    """Sign and write the active root's next CRL, and those of the retired roots on duty
    (inside a transaction; registry not saved)."""
    root, _handle, cert = manager.root(now)
    record, count = _write_crl(manager, root, cert, now)
    manager.registry.crl = record
    log.info("issued CRL %d (%d revoked)", record.number, count)
    issue_retired_crls(manager, now)  # a rolled-over root's CRL goes with it
    return record


def issue_retired_crls(manager: KeyManager, now: dt.datetime) -> None:
    """Reissue the CRL of every retired root still on CRL duty at ``now`` (inside a
    transaction; registry not saved).  Called whenever the active root's CRL is issued, so
    all CRLs are refreshed and carry a revocation together."""
    registry = manager.registry
    for root in registry.roots:
        if root.state == "retired" and now < crl_duty_until(registry, root):
            if not root.not_before <= now < root.not_after:  # cannot happen: duty <= expiry
                continue
            cert = manager.certificate(root.cert_file)
            root.crl, count = _write_crl(manager, root, cert, now)
            log.info(
                "issued CRL %d of retired root %s (%d revoked)", root.crl.number, root.id, count
            )


def refresh_crl(manager: KeyManager, now: dt.datetime, *, force: bool = False) -> bool:
    """Reissue the CRLs if the active one is within its refresh margin (or ``force``) and
    save the registry; True if reissued.  ``now`` is UTC, whole seconds."""
    if not force and not crl_due(manager.registry, now):
        return False
    manager.root(now)
    manager.store.check()
    with manager._transaction():
        issue_crl(manager, now)
        save_registry(manager.directory, manager.registry)
    return True


def revoke_signer(
    manager: KeyManager, signer_id: str, reason: str, now: dt.datetime
) -> SignerRecord:
    """Revoke a signer of any role, reissue the CRLs at once and save the registry."""
    if reason not in REVOCATION_REASONS:
        raise KeyStoreError(
            f"unknown revocation reason {reason!r} (one of {', '.join(REVOCATION_REASONS)})"
        )
    record = manager.signer(signer_id)
    what = ROLE_WORDING[record.role]
    if record.state == "revoked":
        raise KeyStoreError(f"{what} {signer_id} is already revoked")
    manager.root(now)
    manager.store.check()
    with manager._transaction():
        record.state, record.revoked_at, record.revocation_reason = "revoked", now, reason
        issue_crl(manager, now)
        save_registry(manager.directory, manager.registry)
    log.warning("revoked %s %s (%s)", what, signer_id, reason)
    return record
