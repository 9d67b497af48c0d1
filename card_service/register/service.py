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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from card_service.audit import CheckpointSigner, WitnessDir, append, maybe_checkpoint
from card_service.record.schedule import (
    EndorsementNotDue,
    first_endorsement_due,
    local_date,
    next_endorsement_period,
)

from .db import transaction
from .eligibility import Reason, check_eligibility
from .errors import (
    ActivePermitExists,
    ApplicationMismatch,
    CardBusy,
    InvalidState,
    NotEligible,
    NotFound,
    Superseded,
)
from .models import (
    LIVE_PERMIT_STATES,
    Applicant,
    Application,
    ApplicationStatus,
    Card,
    CardState,
    Endorsement,
    Permit,
    PermitState,
    RegisterMeta,
    Revocation,
    RevocationReason,
)
from .permit_numbers import allocate_sequence, check_authority_code, format_permit_number
from .residence import EndorsementView, ResidenceStatus, residence_status
from .types import require_utc
from .views import (
    ApplicantData,
    ApplicationData,
    ApplicationDecision,
    EndorsementRecord,
    PermitView,
    Reservation,
)

__all__ = ["Register"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_DIGEST_HEX = frozenset("0123456789abcdef")
#: Reasons an officer may give to :meth:`Register.revoke` (``replaced`` comes from replace).
REVOKE_REASONS = frozenset(
    {RevocationReason.LOST, RevocationReason.STOLEN, RevocationReason.CANCELLED}
)
REPLACE_REASONS = frozenset({"lost", "stolen", "damaged"})


def _check_digest(value: str, what: str) -> str:
    if len(value) != 64 or not set(value) <= _DIGEST_HEX:
        raise ValueError(f"{what} must be a lower-case hex SHA-256 digest")
    return value


def _integrity_error(exc: IntegrityError) -> Exception:
    """Map a unique-index violation to a register error (without echoing key values)."""
    text = str(exc.orig)
    if "uq_permit_active_person" in text or "permit.applicant_id" in text:
        return ActivePermitExists("the person already holds an active permit")
    if "uq_permit_live_card" in text or "permit.card_serial" in text:
        return CardBusy("the card is bound to another pending or issued permit")
    return exc


class Register:
    """The register of record on one database (one instance per process is enough)."""

    def __init__(
        self,
        engine: Engine,
        *,
        authority_code: str | None = None,
        checkpoint_signer: CheckpointSigner | None = None,
        checkpoint_every: int = 100,
        checkpoint_witness: WitnessDir | None = None,
    ) -> None:
        self.engine = engine
        #: GB/T 2260 code of the issuing authority; ``None`` for a read-only register.
        self.authority_code = (
            None if authority_code is None else check_authority_code(authority_code)
        )
        self.checkpoint_signer = checkpoint_signer
        self.checkpoint_every = checkpoint_every
        #: Every checkpoint is also written there (docs/register.md, "Witness").
        self.checkpoint_witness = checkpoint_witness
        self._person_key: bytes | None = None

    # -- plumbing -------------------------------------------------------------------------

    def _write(self, now: dt.datetime, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction, then seal the audit log if a checkpoint is due."""
        require_utc(now)
        try:
            with transaction(self.engine) as session:
                result = work(session)
        except IntegrityError as exc:
            mapped = _integrity_error(exc)
            if mapped is exc:
                raise
            raise mapped from None
        if self.checkpoint_signer is not None:
            try:
                maybe_checkpoint(
                    self.engine,
                    self.checkpoint_signer,
                    self.checkpoint_every,
                    now,
                    self.checkpoint_witness,
                )
            except Exception:  # the chain is intact; the next write retries the seal
                log.exception("audit checkpoint failed")
        return result

    def _authority(self) -> str:
        if self.authority_code is None:
            raise InvalidState("no issuing authority code configured (PERMIT_AUTHORITY_CODE)")
        return self.authority_code

    def person_key(self) -> bytes:
        if self._person_key is None:
            with Session(self.engine) as session:
                meta = session.get(RegisterMeta, "person_key")
                if meta is None:
                    raise InvalidState("register_meta has no person key: run the migrations")
                self._person_key = bytes.fromhex(meta.value)
        return self._person_key

    def id_number_hmac(self, id_number: str) -> str:
        """HMAC-SHA256 of the (upper-cased) ID number under the register's person key."""
        key = self.person_key()
        return hmac.new(key, id_number.strip().upper().encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _permit(session: Session, number: str, *, lock: bool = True) -> Permit:
        stmt = select(Permit).where(col(Permit.number) == number)
        if lock:
            stmt = stmt.with_for_update()
        permit: Permit | None = session.execute(stmt).scalars().one_or_none()
        if permit is None:
            raise NotFound("no such permit")
        return permit

    def _insert_ignore(self, session: Session, model: type[object], **values: object) -> None:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(model).values(**values).on_conflict_do_nothing())

    # -- applications ---------------------------------------------------------------------

    def submit_application(
        self, applicant: ApplicantData, application: ApplicationData, actor: str, now: dt.datetime
    ) -> ApplicationDecision:
        """Store the application and decide Article 2 eligibility (stored either way)."""
        now = require_utc(now)
        digest = self.id_number_hmac(applicant.id_number)

        def work(session: Session) -> ApplicationDecision:
            self._insert_ignore(
                session,
                Applicant,
                id_number_hmac=digest,
                id_number=applicant.id_number.strip().upper(),
                name=applicant.name,
                birth_date=applicant.birth_date,
                created_at=now,
            )
            person = session.execute(
                select(Applicant).where(col(Applicant.id_number_hmac) == digest)
            ).scalar_one()
            assert person.id is not None
            person.name = applicant.name  # names change; the ID number does not
            result = check_eligibility(
                id_number=applicant.id_number,
                name=applicant.name,
                residence_address=application.residence_address,
                residence_began=application.residence_began,
                basis=application.basis,
                evidence_ref=application.evidence_ref,
                today=local_date(now),
            )
            reasons = [r.value for r in result.reasons]
            if self._live_permit(session, person.id) is not None:
                reasons.append(Reason.ACTIVE_PERMIT_EXISTS.value)
            status = ApplicationStatus.REJECTED if reasons else ApplicationStatus.APPROVED
            row = Application(
                applicant_id=person.id,
                residence_address=application.residence_address,
                residence_began=application.residence_began,
                basis=application.basis,
                evidence_ref=application.evidence_ref,
                portrait_digest=application.portrait_digest,
                status=status.value,
                reasons=",".join(reasons),
                submitted_at=now,
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            outcome = "approved" if not reasons else "rejected:" + ",".join(reasons)
            append(session, actor=actor, action="application.decide", result=outcome, now=now)
            return ApplicationDecision(row.id, not reasons, tuple(reasons))

        return self._write(now, work)

    def check_application(
        self, application_id: int, applicant: ApplicantData, application: ApplicationData
    ) -> None:
        """Raise :class:`ApplicationMismatch` unless ``applicant`` and ``application`` are the
        stored application ``application_id`` (the data a card is about to carry must be what
        the register decided on; a replacement carries its original application's data)."""
        # Before the session: person_key() may open its own (on SQLite every transaction
        # takes the write lock, so a nested one would wait for ours).
        presented = self.id_number_hmac(applicant.id_number)
        with Session(self.engine) as session:
            stored = session.get(Application, application_id)
            if stored is None:
                raise NotFound("no such application")
            person = session.get(Applicant, stored.applicant_id)
            assert person is not None
            differs = []
            if not hmac.compare_digest(person.id_number_hmac, presented):
                differs.append("citizen_id")
            if person.name != applicant.name:
                differs.append("full_name")
            if person.birth_date != applicant.birth_date:
                differs.append("birth_date")
            for name in (
                "residence_address",
                "residence_began",
                "basis",
                "evidence_ref",
                "portrait_digest",
            ):
                if getattr(stored, name) != getattr(application, name):
                    differs.append("portrait" if name == "portrait_digest" else name)
        if differs:
            raise ApplicationMismatch(tuple(differs))

    @staticmethod
    def _live_permit(session: Session, applicant_id: int) -> Permit | None:
        return (
            session.execute(
                select(Permit).where(
                    col(Permit.applicant_id) == applicant_id,
                    col(Permit.state).in_(LIVE_PERMIT_STATES),
                )
            )
            .scalars()
            .first()
        )

    # -- issuance -------------------------------------------------------------------------

    def _bind_card(
        self, session: Session, card_serial: str, applicant_id: int, now: dt.datetime
    ) -> None:
        """Lock the card row (created if new) and check that neither the card nor the person
        has a live permit (one query for both; the unique indexes are the real guard)."""
        if not card_serial or len(card_serial) > 64:
            raise ValueError("card serial must be 1-64 characters")
        self._insert_ignore(
            session, Card, serial=card_serial, state=CardState.BLANK.value, updated_at=now
        )
        card = session.execute(
            select(Card).where(col(Card.serial) == card_serial).with_for_update()
        ).scalar_one()
        if card.state == CardState.TERMINATED:
            raise CardBusy("the card has been terminated")
        live = session.execute(
            select(col(Permit.card_serial), col(Permit.applicant_id)).where(
                col(Permit.state).in_(LIVE_PERMIT_STATES),
                or_(
                    col(Permit.card_serial) == card_serial,
                    col(Permit.applicant_id) == applicant_id,
                ),
            )
        ).all()
        if any(row[0] == card_serial for row in live):
            raise CardBusy("the card is bound to another pending or issued permit")
        if live:
            raise ActivePermitExists("the person already holds an active permit")
        card.state = CardState.PERSONALISING.value
        card.updated_at = now

    def _reserve(
        self,
        session: Session,
        application: Application,
        card_serial: str,
        now: dt.datetime,
        actor: str,
        *,
        residence_began: dt.date,
        replaces: str | None,
        counted_from: dt.date | None = None,
        sequence: int | None = None,
        audit_before: Sequence[tuple[str, str, str]] = (),
    ) -> Reservation:
        """Insert the RESERVED permit.  ``sequence`` may be allocated by the caller (it must
        come first in the lock order); ``audit_before`` are (action, result, permit number)
        entries appended before the reservation's own, so the audit head is locked last."""
        assert application.id is not None
        today = local_date(now)
        # lock order: counter, card, permit rows, audit head
        if sequence is None:
            sequence = allocate_sequence(session, self._authority(), today.year)
        number = format_permit_number(self._authority(), today.year, sequence)
        self._bind_card(session, card_serial, application.applicant_id, now)
        permit = Permit(
            number=number,
            application_id=application.id,
            applicant_id=application.applicant_id,
            card_serial=card_serial,
            state=PermitState.RESERVED.value,
            residence_began=residence_began,
            residence_counted_from=counted_from,
            issue_date=today,
            # exactly what the signed record derives from these two dates
            first_endorsement_due=first_endorsement_due(residence_began, today),
            reserved_at=now,
            replaces_permit=replaces,
        )
        session.add(permit)
        session.flush()  # unique indexes fire here
        for action, result, about in audit_before:
            append(session, actor=actor, action=action, result=result, now=now, permit_number=about)
        append(
            session,
            actor=actor,
            action="permit.reserve",
            result="ok",
            now=now,
            permit_number=number,
        )
        log.info("reserved permit %s", number)
        return Reservation(
            number,
            application.id,
            card_serial,
            now,
            permit.residence_began,
            permit.issue_date,
            permit.first_endorsement_due,
            replaces,
            counted_from,
        )

    def reserve_permit(
        self, application_id: int, card_serial: str, now: dt.datetime, actor: str = "issuer"
    ) -> Reservation:
        """Allocate a number and bind the card: a RESERVED permit, pending issuance."""
        now = require_utc(now)

        def work(session: Session) -> Reservation:
            application = session.get(Application, application_id)
            if application is None:
                raise NotFound("no such application")
            if application.status != ApplicationStatus.APPROVED:
                raise NotEligible(tuple(application.reasons.split(",")))
            return self._reserve(
                session,
                application,
                card_serial,
                now,
                actor,
                residence_began=application.residence_began,
                replaces=application.replaces_permit,
            )

        return self._write(now, work)

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
        now = require_utc(now)
        _check_digest(mso_digest, "mso_digest")
        _check_digest(record_digest, "record_digest")

        def work(session: Session) -> PermitView:
            permit = self._permit(session, permit_number)
            if permit.state == PermitState.ISSUED and (permit.mso_digest, permit.record_digest) == (
                mso_digest,
                record_digest,
            ):
                return self._view(session, permit)
            if permit.state != PermitState.RESERVED:
                # e.g. abandoned by a concurrent retry of the same application
                raise Superseded(f"permit is {permit.state}, not RESERVED")
            permit.state = PermitState.ISSUED.value
            permit.issued_at = now
            permit.mso_digest = mso_digest
            permit.record_digest = record_digest
            session.execute(
                update(Card)
                .where(col(Card.serial) == permit.card_serial)
                .values(state=CardState.ISSUED.value, updated_at=now)
            )
            log.info("permit %s issued", permit_number)
            append(
                session,
                actor=actor,
                action="permit.issue",
                result="ok",
                now=now,
                permit_number=permit_number,
            )
            session.flush()
            # just issued: no endorsement or revocation yet (saves two queries per issuance)
            return PermitView.of(permit, (), None)

        return self._write(now, work)

    def confirm_locked(self, permit_number: str, now: dt.datetime, actor: str = "issuer") -> None:
        """Record that the card of an ISSUED permit is locked (idempotent)."""
        now = require_utc(now)

        def work(session: Session) -> None:
            # one conditional UPDATE on the hot path; the error cases look the row up
            changed = session.execute(
                update(Permit)
                .where(
                    col(Permit.number) == permit_number,
                    col(Permit.state) == PermitState.ISSUED,
                    col(Permit.card_locked_at).is_(None),
                )
                .values(card_locked_at=now)
                .returning(col(Permit.id))
            ).first()
            if changed is None:
                permit = self._permit(session, permit_number, lock=False)
                if permit.state != PermitState.ISSUED:
                    raise InvalidState(f"permit is {permit.state}, not ISSUED")
                return  # already confirmed
            append(
                session,
                actor=actor,
                action="card.lock",
                result="ok",
                now=now,
                permit_number=permit_number,
            )

        self._write(now, work)

    def lock_card(
        self,
        permit_number: str,
        card_serial: str,
        now: dt.datetime,
        actor: str = "issuer",
        *,
        lock: Callable[[], None] | None = None,
    ) -> None:
        """Lock the card of a lock-pending permit and confirm it, decided in one transaction.

        The permit row is locked (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` serialises
        anyway) and must still be ISSUED and bound to ``card_serial``: then ``lock`` - the
        card command, a single APDU - runs *inside* the transaction and the lock is
        recorded (``card.lock``).  A concurrent :meth:`replace` of the permit therefore
        either commits first (this raises :class:`Superseded` and the card is never
        locked) or waits and sees the lock confirmed.  If ``lock`` raises, nothing is
        recorded (lock pending, as before).  Already confirmed: ``lock`` still runs (the
        caller's card holds the issued record) and nothing is recorded twice.
        """
        now = require_utc(now)

        def work(session: Session) -> None:
            permit = self._permit(session, permit_number)
            if permit.card_serial != card_serial:
                raise Superseded("the permit is bound to another card")
            if permit.state != PermitState.ISSUED:
                raise Superseded(f"permit is {permit.state}, not ISSUED")
            if lock is not None:
                lock()
            if permit.card_locked_at is not None:
                return
            permit.card_locked_at = now
            append(
                session,
                actor=actor,
                action="card.lock",
                result="ok",
                now=now,
                permit_number=permit_number,
            )

        self._write(now, work)

    def lock_pending(self, application_id: int | None = None) -> list[PermitView]:
        """ISSUED permits whose card is not confirmed locked (of one application if given),
        oldest first."""
        stmt = select(Permit).where(
            col(Permit.state) == PermitState.ISSUED, col(Permit.card_locked_at).is_(None)
        )
        if application_id is not None:
            stmt = stmt.where(col(Permit.application_id) == application_id)
        with Session(self.engine) as session:
            permits = session.execute(
                stmt.order_by(col(Permit.issued_at), col(Permit.id))
            ).scalars()
            return [self._view(session, p) for p in permits]

    def abandon(
        self, permit_number: str, reason: str, now: dt.datetime, actor: str = "issuer"
    ) -> PermitView:
        """RESERVED -> ABANDONED (a rolled-back issuance); the card may be wiped and reused.

        ``reason`` is a short code (``card_removed``, ``verify_failed``, ``reconciled``...).
        Abandoning an abandoned permit is a no-op; an ISSUED one cannot be abandoned.
        """
        now = require_utc(now)

        def work(session: Session) -> PermitView:
            permit = self._permit(session, permit_number)
            if permit.state == PermitState.ABANDONED:
                return self._view(session, permit)
            if permit.state != PermitState.RESERVED:
                raise InvalidState(f"permit is {permit.state}, not RESERVED")
            permit.state = PermitState.ABANDONED.value
            permit.closed_at = now
            permit.abandon_reason = reason[:64]
            card = session.get(Card, permit.card_serial, with_for_update=True)
            assert card is not None
            card.state, card.updated_at = CardState.BLANK.value, now
            log.warning("permit %s abandoned (%s)", permit_number, reason)
            append(
                session,
                actor=actor,
                action="permit.abandon",
                result=reason,
                now=now,
                permit_number=permit_number,
            )
            session.flush()
            return self._view(session, permit)

        return self._write(now, work)

    def pending_issuances(
        self, *, application_id: int | None = None, card_serial: str | None = None
    ) -> list[Reservation]:
        """RESERVED permits, oldest first: what startup reconciliation finishes or abandons.

        With ``application_id`` and/or ``card_serial``: only those of that application or
        bound to that card (what a retry must clean up).
        """
        stmt = select(Permit).where(col(Permit.state) == PermitState.RESERVED)
        either = []
        if application_id is not None:
            either.append(col(Permit.application_id) == application_id)
        if card_serial is not None:
            either.append(col(Permit.card_serial) == card_serial)
        if either:
            stmt = stmt.where(or_(*either))
        with Session(self.engine) as session:
            permits = session.execute(
                stmt.order_by(col(Permit.reserved_at), col(Permit.id))
            ).scalars()
            # RESERVED: no endorsements or revocation to load
            return [PermitView.of(p, (), None).reservation() for p in permits]

    # -- life cycle -----------------------------------------------------------------------

    def record_endorsement(
        self, permit_number: str, now: dt.datetime, actor: str = "officer"
    ) -> EndorsementRecord:
        """Endorse on the local date of ``now`` (Article 10); late endorsement restores."""
        now = require_utc(now)

        def work(session: Session) -> EndorsementRecord:
            permit = self._permit(session, permit_number)
            if permit.state != PermitState.ISSUED:
                raise InvalidState(f"permit is {permit.state}, not ISSUED")
            assert permit.id is not None
            done = self._endorsements(session, permit.id)
            covered_until = done[-1].period_end if done else permit.first_endorsement_due
            today = local_date(now)
            try:
                period = next_endorsement_period(covered_until, today)
            except EndorsementNotDue as exc:
                raise InvalidState(str(exc)) from None
            row = Endorsement(
                permit_id=permit.id,
                sequence=len(done) + 1,
                endorsed_on=today,
                period_start=period.start,
                period_end=period.end,
                late=period.late,
                recorded_at=now,
            )
            session.add(row)
            append(
                session,
                actor=actor,
                action="permit.endorse",
                result="late" if period.late else "ok",
                now=now,
                permit_number=permit_number,
            )
            session.flush()
            return EndorsementRecord(
                permit_number, row.sequence, today, period.start, period.end, period.late
            )

        return self._write(now, work)

    def _revoke_row(
        self,
        session: Session,
        permit: Permit,
        reason: RevocationReason,
        effective_at: dt.datetime,
        actor: str,
        now: dt.datetime,
        *,
        audit: bool = True,
    ) -> None:
        assert permit.id is not None
        if permit.state != PermitState.ISSUED:
            raise InvalidState(f"permit is {permit.state}, not ISSUED")
        permit.state = PermitState.REVOKED.value
        permit.closed_at = now
        session.add(
            Revocation(
                permit_id=permit.id,
                reason=reason.value,
                effective_at=require_utc(effective_at),
                recorded_at=now,
                actor=actor,
            )
        )
        session.flush()
        if not audit:
            return
        append(
            session,
            actor=actor,
            action="permit.revoke",
            result=reason.value,
            now=now,
            permit_number=permit.number,
        )

    def revoke(
        self,
        permit_number: str,
        reason: str,
        effective_at: dt.datetime,
        actor: str,
        now: dt.datetime,
    ) -> PermitView:
        """ISSUED -> REVOKED for ``lost``, ``stolen`` or ``cancelled`` from ``effective_at``."""
        now = require_utc(now)
        why = RevocationReason(reason)
        if why not in REVOKE_REASONS:
            raise ValueError("revoke reason must be lost, stolen or cancelled (replace: replace)")

        def work(session: Session) -> PermitView:
            permit = self._permit(session, permit_number)
            self._revoke_row(session, permit, why, effective_at, actor, now)
            return self._view(session, permit)

        return self._write(now, work)

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

        ``reason`` (``lost``, ``stolen``, ``damaged``) is audited.  A suspended permit must be
        endorsed before it is replaced.

        ``lock_pending_only`` (the issuance retry on another card): replace only while the
        permit is still lock pending - its card verified but not confirmed locked - decided
        on the locked row; otherwise :class:`Superseded` and nothing changes.
        """
        now = require_utc(now)
        if reason not in REPLACE_REASONS:
            raise ValueError("replace reason must be lost, stolen or damaged")

        def work(session: Session) -> Reservation:
            # lock order as everywhere: counter, permit rows, card, audit head (last)
            sequence = allocate_sequence(session, self._authority(), local_date(now).year)
            old = self._permit(session, permit_number)
            if lock_pending_only and (
                old.state != PermitState.ISSUED or old.card_locked_at is not None
            ):
                raise Superseded("the permit is no longer lock pending")
            if old.state != PermitState.ISSUED:
                raise InvalidState(f"permit is {old.state}, not ISSUED")
            view = self._view(session, old)
            status = self._status(view, now)
            if status.suspended:
                raise InvalidState("the permit is suspended: endorse it before replacing")
            source = session.get(Application, old.application_id)
            assert source is not None
            application = Application(
                applicant_id=source.applicant_id,
                residence_address=source.residence_address,
                residence_began=source.residence_began,
                basis=source.basis,
                evidence_ref=source.evidence_ref,
                portrait_digest=source.portrait_digest,
                status=ApplicationStatus.APPROVED.value,
                reasons="",
                submitted_at=now,
                replaces_permit=permit_number,
            )
            session.add(application)
            session.flush()
            self._revoke_row(session, old, RevocationReason.REPLACED, now, actor, now, audit=False)
            return self._reserve(
                session,
                application,
                new_card_serial,
                now,
                actor,
                residence_began=source.residence_began,
                counted_from=status.counted_from,
                replaces=permit_number,
                sequence=sequence,
                audit_before=(
                    ("permit.revoke", RevocationReason.REPLACED.value, permit_number),
                    ("permit.replace", reason, permit_number),
                ),
            )

        return self._write(now, work)

    def terminate_card(self, card_serial: str, actor: str, now: dt.datetime) -> None:
        """A returned card is terminated; it may not be bound to a live permit."""
        now = require_utc(now)

        def work(session: Session) -> None:
            card = session.get(Card, card_serial, with_for_update=True)
            if card is None:
                raise NotFound("no such card")
            live = session.execute(
                select(col(Permit.number)).where(
                    col(Permit.card_serial) == card_serial,
                    col(Permit.state).in_(LIVE_PERMIT_STATES),
                )
            ).first()
            if live is not None:
                raise InvalidState("the card is bound to a live permit: revoke it first")
            card.state, card.updated_at = CardState.TERMINATED.value, now
            append(session, actor=actor, action="card.terminate", result="ok", now=now)

        self._write(now, work)

    def record_verification(
        self, permit_number: str | None, result: str, actor: str, now: dt.datetime
    ) -> None:
        """Audit a verification done for a relying party (``result`` is a short code)."""
        now = require_utc(now)

        def work(session: Session) -> None:
            append(
                session,
                actor=actor,
                action="permit.verify",
                result=result,
                now=now,
                permit_number=permit_number,
            )

        self._write(now, work)

    # -- reading --------------------------------------------------------------------------

    @staticmethod
    def _endorsements(session: Session, permit_id: int) -> list[Endorsement]:
        return list(
            session.execute(
                select(Endorsement)
                .where(col(Endorsement.permit_id) == permit_id)
                .order_by(col(Endorsement.sequence))
            ).scalars()
        )

    def _view(self, session: Session, permit: Permit) -> PermitView:
        assert permit.id is not None
        endorsements = tuple(
            EndorsementView(e.endorsed_on, e.period_start, e.period_end, e.recorded_at, e.late)
            for e in self._endorsements(session, permit.id)
        )
        revocation = session.execute(
            select(Revocation).where(col(Revocation.permit_id) == permit.id)
        ).scalar_one_or_none()
        revoked = None if revocation is None else (revocation.reason, revocation.effective_at)
        return PermitView.of(permit, endorsements, revoked)

    def permit_for_card(self, card_serial: str) -> PermitView | None:
        """The RESERVED or ISSUED permit bound to a card, if any (recognising a card that a
        crashed issuance left half-written: RESERVED means "finish or abandon")."""
        with Session(self.engine) as session:
            permit: Permit | None = (
                session.execute(
                    select(Permit).where(
                        col(Permit.card_serial) == card_serial,
                        col(Permit.state).in_(LIVE_PERMIT_STATES),
                    )
                )
                .scalars()
                .first()
            )
            return None if permit is None else self._view(session, permit)

    def permit(self, permit_number: str) -> PermitView:
        with Session(self.engine) as session:
            return self._view(session, self._permit(session, permit_number, lock=False))

    @staticmethod
    def _status(view: PermitView, now: dt.datetime) -> ResidenceStatus:
        return residence_status(
            view.residence_began,
            view.first_endorsement_due,
            view.endorsements,
            now,
            view.residence_counted_from,
        )

    def endorsement_status(self, permit_number: str, now: dt.datetime) -> ResidenceStatus:
        """Due window, coverage, suspension and years of residence at ``now``."""
        return self._status(self.permit(permit_number), now)

    def years_of_residence(self, permit_number: str, now: dt.datetime) -> int:
        return self.endorsement_status(permit_number, now).years_of_residence

    def effective_state(self, permit_number: str, now: dt.datetime) -> str:
        """RESERVED, ISSUED, SUSPENDED (computed), REVOKED (from its effective time) or
        ABANDONED."""
        view = self.permit(permit_number)
        return effective_state(view, now)


def effective_state(view: PermitView, now: dt.datetime) -> str:
    if view.state == PermitState.REVOKED:
        assert view.revocation_effective_at is not None
        if require_utc(now) >= view.revocation_effective_at:
            return "REVOKED"
    elif view.state != PermitState.ISSUED:
        return view.state.value
    status = residence_status(
        view.residence_began,
        view.first_endorsement_due,
        view.endorsements,
        now,
        view.residence_counted_from,
    )
    return "SUSPENDED" if status.suspended else "ISSUED"
