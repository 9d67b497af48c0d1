"""The register API used by the officer workflows (issue, endorse, revoke, replace).

Every method is one database transaction that changes state *and* appends its audit entry
(so neither exists without the other), and takes ``now`` as a parameter.  Locks are always
taken in the same order - permit counter, card, permit rows, audit chain head last - so
concurrent transactions queue and never deadlock.  Uniqueness that must hold across
processes (one live permit per person, one live permit per card, unique numbers) is
enforced by the database (see :mod:`.models`); the checks here only give friendlier errors.

State machine (docs/register.md)::

    reserve_permit -> RESERVED --mark_issued--> ISSUED --revoke/replace--> REVOKED
                         └-------abandon------> ABANDONED
    (SUSPENDED is computed from the endorsement schedule, never stored.)

An ISSUED permit whose ``card_locked_at`` is unset is *lock pending*: the card was read back
and verified but is not known to be locked; :meth:`Register.confirm_locked` records the lock
and :meth:`Register.lock_pending` lists what startup reconciliation must finish.

:class:`Register` is a facade: each method is one use case implemented, by concern, in
:mod:`.applications`, :mod:`.issuance`, :mod:`.locking`, :mod:`.endorsements`,
:mod:`.revocations`, :mod:`.cards` and :mod:`.auditing`, over the shared transaction of
:class:`.store.Store`.  Read-only summaries for presentation are in :mod:`.views`
(:func:`.views.permit_history`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence

from sqlalchemy import bindparam, select
from sqlmodel import Session, col

from card_service.audit import NewEntry

from . import applications, auditing, cards, endorsements, issuance, locking, revocations
from .models import Permit, PermitState, Revocation
from .prepared import PreparedRead
from .residence import ResidenceStatus, effective_state, permit_residence
from .revocations import REPLACE_REASONS, REVOKE_REASONS
from .status import StatusEntries, status_entries
from .store import Store, get_permit, load_view
from .views import (
    ApplicantData,
    ApplicationData,
    ApplicationDecision,
    EndorsementRecord,
    PermitFacts,
    PermitView,
    Reservation,
)

__all__ = ["REPLACE_REASONS", "REVOKE_REASONS", "Register", "effective_state"]

#: :meth:`Register.permit_facts`: the permit by number with its revocation, if any.
_FACTS = (
    select(
        col(Permit.state),
        col(Permit.issued_at),
        col(Permit.mso_digest),
        col(Revocation.effective_at),
    )
    .outerjoin(Revocation, col(Revocation.permit_id) == col(Permit.id))
    .where(col(Permit.number) == bindparam("number"))
)


class Register(Store):
    """The register of record on one database (one instance per process is enough).

    ``Register(engine, *, authority_code=None, checkpoint_signer=None, checkpoint_every=100,
    checkpoint_witness=None)``: see :class:`.store.Store`.
    """

    _group: auditing.GroupCommit | None = None
    _facts: PreparedRead | None = None
    _group_lock = threading.Lock()

    # -- applications ---------------------------------------------------------------------

    def submit_application(
        self, applicant: ApplicantData, application: ApplicationData, actor: str, now: dt.datetime
    ) -> ApplicationDecision:
        """Store the application and decide Article 2 eligibility (stored either way)."""
        return applications.submit_application(self, applicant, application, actor, now)

    def check_application(
        self, application_id: int, applicant: ApplicantData, application: ApplicationData
    ) -> None:
        """Raise :class:`.errors.ApplicationMismatch` unless ``applicant`` and ``application``
        are the stored application ``application_id``."""
        applications.check_application(self, application_id, applicant, application)

    # -- issuance -------------------------------------------------------------------------

    def reserve_permit(
        self, application_id: int, card_serial: str, now: dt.datetime, actor: str = "issuer"
    ) -> Reservation:
        """Allocate a number and bind the card: a RESERVED permit, pending issuance."""
        return issuance.reserve_permit(self, application_id, card_serial, now, actor)

    def mark_issued(
        self,
        permit_number: str,
        mso_digest: str,
        record_digest: str,
        now: dt.datetime,
        actor: str = "issuer",
    ) -> PermitView:
        """RESERVED -> ISSUED after read-back verification; a retry with the same digests is
        a no-op, so a crash after commit and before the caller noticed is harmless."""
        return issuance.mark_issued(self, permit_number, mso_digest, record_digest, now, actor)

    def confirm_locked(self, permit_number: str, now: dt.datetime, actor: str = "issuer") -> None:
        """Record that the card of an ISSUED permit is locked (idempotent)."""
        locking.confirm_locked(self, permit_number, now, actor)

    def lock_card(
        self,
        permit_number: str,
        card_serial: str,
        now: dt.datetime,
        actor: str = "issuer",
        *,
        lock: Callable[[], None] | None = None,
        pin_reset: bool = False,
    ) -> None:
        """Lock the card of a lock-pending permit and confirm it, decided in one transaction.

        The permit row is locked (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` serialises
        anyway) and must still be ISSUED and bound to ``card_serial``: then ``lock`` - the
        card command, a single APDU - runs *inside* the transaction and the lock is
        recorded (``card.lock``).  A concurrent :meth:`replace` of the permit therefore
        either commits first (this raises :class:`.errors.Superseded` and the card is never
        locked) or waits and sees the lock confirmed.  If ``lock`` raises, nothing is
        recorded (lock pending, as before).  Already confirmed: ``lock`` still runs (the
        caller's card holds the issued record) and nothing is recorded twice.
        ``pin_reset``: the resumed issuance gave the card a fresh PIN and PUK (the first
        attempt's PIN letter was never shown); recorded as ``card.pin_reset`` with the lock,
        in the same transaction - no PIN, no PUK, the register keeps none.
        """
        locking.lock_card(self, permit_number, card_serial, now, actor, lock, pin_reset=pin_reset)

    def lock_pending(self, application_id: int | None = None) -> list[PermitView]:
        """ISSUED permits whose card is not confirmed locked (of one application if given),
        oldest first."""
        return locking.lock_pending(self, application_id)

    def abandon(
        self, permit_number: str, reason: str, now: dt.datetime, actor: str = "issuer"
    ) -> PermitView:
        """RESERVED -> ABANDONED (a rolled-back issuance); the card may be wiped and reused.

        ``reason`` is a short code (``card_removed``, ``verify_failed``, ``reconciled``...).
        Abandoning an abandoned permit is a no-op; an ISSUED one cannot be abandoned.
        """
        return issuance.abandon(self, permit_number, reason, now, actor)

    def pending_issuances(
        self, *, application_id: int | None = None, card_serial: str | None = None
    ) -> list[Reservation]:
        """RESERVED permits, oldest first: what startup reconciliation finishes or abandons.

        With ``application_id`` and/or ``card_serial``: only those of that application or
        bound to that card (what a retry must clean up).
        """
        return issuance.pending_issuances(
            self, application_id=application_id, card_serial=card_serial
        )

    # -- life cycle -----------------------------------------------------------------------

    def record_endorsement(
        self, permit_number: str, now: dt.datetime, actor: str = "officer"
    ) -> EndorsementRecord:
        """Endorse on the local date of ``now`` (Article 10); late endorsement restores."""
        return endorsements.record_endorsement(self, permit_number, now, actor)

    def revoke(
        self,
        permit_number: str,
        reason: str,
        effective_at: dt.datetime,
        actor: str,
        now: dt.datetime,
    ) -> PermitView:
        """ISSUED -> REVOKED for ``lost``, ``stolen`` or ``cancelled`` from ``effective_at``
        (another reason: :class:`.errors.InvalidReason`, a ``ValueError``)."""
        return revocations.revoke(self, permit_number, reason, effective_at, actor, now)

    def replace(
        self,
        permit_number: str,
        reason: str,
        new_card_serial: str,
        actor: str,
        now: dt.datetime,
        *,
        lock_pending_only: bool = False,
    ) -> Reservation:
        """Article 11: revoke the old permit (``replaced``) and reserve a new one on a new
        card, in one transaction.  The continuity of residence carries over
        (``residence_counted_from``); the new card's schedule is derived like any issuance
        (``first_endorsement_due(residence_began, issue_date)``), as the signed record does.

        ``reason`` (``lost``, ``stolen``, ``damaged``) is audited; another is
        :class:`.errors.InvalidReason` (a ``ValueError``).  A suspended permit must be
        endorsed before it is replaced.

        ``lock_pending_only`` (the issuance retry on another card): replace only while the
        permit is still lock pending - its card verified but not confirmed locked - decided
        on the locked row; otherwise :class:`.errors.Superseded` and nothing changes.
        """
        return revocations.replace(
            self,
            permit_number,
            reason,
            new_card_serial,
            actor,
            now,
            lock_pending_only=lock_pending_only,
        )

    def terminate_card(self, card_serial: str, actor: str, now: dt.datetime) -> None:
        """A returned card is terminated; it may not be bound to a live permit."""
        cards.terminate_card(self, card_serial, actor, now)

    def record_verification(
        self, permit_number: str | None, result: str, actor: str, now: dt.datetime
    ) -> None:
        """Audit a verification done for a relying party (``result`` is a short code);
        committed in a group with other threads' verifications, durable on return
        (:class:`.auditing.GroupCommit`; a failed commit is
        :class:`.auditing.AuditNotRecorded`)."""
        self._verifications().append(
            NewEntry(actor, "permit.verify", result, now, permit_number=permit_number)
        )

    def record_verifications(
        self, entries: Sequence[tuple[str | None, str, str, dt.datetime]]
    ) -> list[str | None]:
        """:meth:`record_verification` of each ``(permit_number, result, actor, now)`` (a
        batch, in one group where it fits): for each, ``None`` once durable, else the
        failure's class name."""
        return self._verifications().append_all(
            [NewEntry(a, "permit.verify", r, t, permit_number=n) for n, r, a, t in entries]
        )

    def _verifications(self) -> auditing.GroupCommit:
        with self._group_lock:
            if self._group is None:
                self._group = auditing.GroupCommit(self)
            return self._group

    # -- reading --------------------------------------------------------------------------

    def permit_for_card(self, card_serial: str) -> PermitView | None:
        """The RESERVED or ISSUED permit bound to a card, if any (recognising a card that a
        crashed issuance left half-written: RESERVED means "finish or abandon")."""
        return cards.permit_for_card(self, card_serial)

    def permit(self, permit_number: str) -> PermitView:
        """The permit with its endorsements and revocation; :class:`.errors.NotFound`."""
        with Session(self.engine) as session:
            return load_view(session, get_permit(session, permit_number, lock=False))

    def permit_facts(self, permit_number: str) -> PermitFacts | None:
        """What a verifier checks a presented record against (state, issuance, MSO digest,
        revocation), in one query; ``None`` for a number the register does not hold.

        On the hot path of every verification: a :class:`.prepared.PreparedRead`."""
        return self.permit_facts_each([permit_number])[0]

    def permit_facts_each(self, permit_numbers: Sequence[str]) -> list[PermitFacts | None]:
        """:meth:`permit_facts` of each number, on one connection (a batch)."""
        if self._facts is None:
            self._facts = PreparedRead(self.engine, _FACTS)
        rows = self._facts.each([{"number": n} for n in permit_numbers])
        return [
            None if row is None else PermitFacts(PermitState(row[0]), row[1], row[2], row[3])
            for row in rows
        ]

    def status_entries(self, now: dt.datetime) -> StatusEntries:
        """The status of every status index (permit row id) at ``now``, for the signed
        status list (:mod:`.status`); one snapshot (REPEATABLE READ on PostgreSQL)."""
        with Session(self.engine) as session:
            if self.engine.dialect.name == "postgresql":
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return status_entries(session, now)

    def endorsement_status(self, permit_number: str, now: dt.datetime) -> ResidenceStatus:
        """Due window, coverage, suspension and years of residence at ``now``."""
        return permit_residence(self.permit(permit_number), now)

    def years_of_residence(self, permit_number: str, now: dt.datetime) -> int:
        return self.endorsement_status(permit_number, now).years_of_residence

    def effective_state(self, permit_number: str, now: dt.datetime) -> str:
        """RESERVED, ISSUED, SUSPENDED (computed), REVOKED (from its effective time) or
        ABANDONED."""
        view = self.permit(permit_number)
        return effective_state(view, now)
