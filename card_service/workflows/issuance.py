"""Issue a permit onto a card in a named reader, crash-safely.

Order (docs/workflows.md, "Crash safety")::

    authenticate the card (issuer channel; + card key if it holds a record)
    -> reserve (register RESERVED, commit)
    -> BLANK -> PERSONALISING (wipe first if half-personalised)
    -> generate the card key -> sign the record with it -> write record, PIN, PUK
    -> read back + INTERNAL AUTHENTICATE + Verifier (require_card_proof)
    -> mark_issued (register ISSUED, lock pending, commit)
    -> lock_card: in one register transaction, the permit still ISSUED on this card ->
       lock the card (PERSONALISING -> ISSUED) -> record the lock (commit)

The card is locked only after the register says ISSUED, so a card that can pass
verification (life cycle ISSUED is required) never exists without an issued register entry;
the register says ISSUED only after read-back verification.  A RESERVED permit's card is
never locked, so abandoning a RESERVED permit is always safe.

Two issuances of one application at once (docs/workflows.md, "Concurrent issuance"): every
decision taken from an earlier read is re-taken on the locked row by the register
transaction that acts on it (``mark_issued`` needs RESERVED, ``replace`` of a lock-pending
permit needs it still unconfirmed, ``lock_card`` needs the permit still ISSUED on this card);
the loser gets ``IssuanceError("concurrent_issuance")`` and its card stays unlocked.
"""

from __future__ import annotations

import datetime as dt
import logging

from card_service.card.access import CardAccess
from card_service.card.session import PermitCardSession
from card_service.card.wire import FileId
from card_service.record import Verdict, Verifier, sign_record
from card_service.record.errors import RecordError
from card_service.record.status_ref import StatusReference
from card_service.register.errors import (
    ActivePermitExists,
    InvalidState,
    Superseded,
)
from card_service.register.models import PermitState
from card_service.register.service import Register
from card_service.register.views import PermitView, Reservation

from .application import PermitApplication
from .authenticate import AuthenticatedCard, authenticate_card
from .card_state import CardCondition, CardStatus, classify_card
from .cardops import RecordDigests, digests_of, read_and_verify
from .errors import IssuanceError
from .issuance_common import (
    CARD_FAILURES,
    IssuanceResult,
    check_application,
    concurrent,
    new_pin_letter,
    random_digits,
    readback_problem,
)
from .issuer import IssuerContext
from .progress import ISSUANCE_STEPS, ProgressEvent, ProgressSink, Step, StepHook, utc

__all__ = [
    "CARD_FAILURES",
    "IssuanceError",
    "IssuanceResult",
    "IssuanceWorkflow",
    "check_application",
]

log = logging.getLogger(__name__)


def _noop_hook(_: Step) -> None:
    return None


class IssuanceWorkflow:
    """One officer station: a register, the issuer's keys and its card access.

    ``hook`` is called before every step (tests raise :class:`SimulatedCrash` there);
    ``on_progress`` receives :class:`ProgressEvent` s.
    """

    def __init__(
        self,
        register: Register,
        issuer: IssuerContext,
        cards: CardAccess,
        *,
        hook: StepHook | None = None,
        on_progress: ProgressSink | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.register = register
        self.issuer = issuer
        self.cards = cards
        self.hook = hook or _noop_hook
        self.on_progress = on_progress
        self.verifier = verifier or Verifier(issuer.trust)

    # -- progress -------------------------------------------------------------------------

    def _step(self, step: Step, number: str | None) -> None:
        self.hook(step)
        self._emit(step, "started", number)

    def _emit(self, step: Step, status: str, number: str | None, detail: str = "") -> None:
        if self.on_progress is None:
            return
        index = ISSUANCE_STEPS.index(step) + 1
        self.on_progress(ProgressEvent(step, status, index, len(ISSUANCE_STEPS), number, detail))

    # -- the workflow ---------------------------------------------------------------------

    def issue(
        self,
        application: PermitApplication,
        application_id: int,
        reader: str,
        now: dt.datetime,
        *,
        reservation: Reservation | None = None,
    ) -> IssuanceResult:
        """Issue onto the card in ``reader`` (blank, or half-personalised: wiped first).

        Retrying after any failure is safe: a RESERVED permit of the same application is
        abandoned (its card was never locked), a permit whose card was verified but not
        locked is finished on the same card, or replaced when another card is presented.
        ``reservation``: issue an existing reservation (from :meth:`Register.replace`).
        """
        now = utc(now)
        target = reservation.application_id if reservation is not None else application_id
        check_application(self.register, target, application)
        with self.cards.session(reader, exclusive=True) as session:
            try:
                status = classify_card(session)
            except CARD_FAILURES as exc:
                raise IssuanceError("card_failed", f"card failure: {type(exc).__name__}") from None
            card = authenticate_card(session, status, self.issuer, self.verifier, now)
            if reservation is None:
                try:
                    finished = self._resume(session, card, application_id, now)
                except _Replace as replace:
                    reservation = self._replace(replace.number, status.serial_text, now)
                    finished = None
                if finished is not None:
                    return finished
            return self._personalise(session, status, application, application_id, now, reservation)

    def _replace(self, number: str, serial: str, now: dt.datetime) -> Reservation:
        """Replace the application's lock-pending permit onto this card - only if, on the
        locked row, it is still lock pending (its own issuance may just have locked it)."""
        try:
            return self.register.replace(
                number, "damaged", serial, self.issuer.actor, now, lock_pending_only=True
            )
        except Superseded:
            raise concurrent(number) from None
        except ActivePermitExists:
            raise IssuanceError(
                "active_permit_exists", "the person already holds an active permit"
            ) from None

    def _resume(
        self,
        session: PermitCardSession,
        card: AuthenticatedCard,
        application_id: int,
        now: dt.datetime,
    ) -> IssuanceResult | None:
        """Clean up or finish earlier attempts for this application; a result if finished."""
        actor = self.issuer.actor
        status = card.status
        serial = status.serial_text
        for view in self.register.lock_pending(application_id):
            if view.card_serial == serial:
                return self._finish_lock(session, card, view, now)
            # The verified card is elsewhere (lost, or set aside) and was never locked:
            # it can never pass verification.  Replace the permit onto this card.
            log.warning("permit %s verified on another card: replacing", view.number)
            raise _Replace(view.number)
        if status.condition is CardCondition.ISSUED:
            bound = self.register.permit_for_card(serial)
            if (
                bound is not None
                and bound.application_id == application_id
                and bound.state is PermitState.ISSUED
                and bound.mso_digest is not None
                and bound.record_digest is not None
            ):
                # A retry after the card was locked (by the first attempt or by
                # reconciliation): the issuance is already complete.
                digests = RecordDigests(bound.mso_digest, bound.record_digest)
                return IssuanceResult(bound.number, serial, digests, resumed=True)
            raise IssuanceError("card_issued", "the card is locked (issued); it cannot be reused")
        for reserved in self.register.pending_issuances(
            application_id=application_id, card_serial=serial
        ):
            # A RESERVED permit's card is never locked: abandoning it is always safe.
            # No longer RESERVED: a concurrent issuance of it got further; it wins.
            try:
                self.register.abandon(reserved.permit_number, "retry", now, actor)
            except InvalidState:
                raise concurrent(reserved.permit_number) from None
        return None

    def _finish_lock(
        self,
        session: PermitCardSession,
        card: AuthenticatedCard,
        view: PermitView,
        now: dt.datetime,
    ) -> IssuanceResult:
        """Register ISSUED, card verified but not locked (or locked, unconfirmed): finish.

        The card is authenticated (issuer channel open; a locked card also by its key).
        A lock-pending issuance never returned its PIN letter, so an unlocked card gets a
        fresh PIN and PUK before it is locked, returned as the result's PIN letter."""
        number, status = view.number, card.status
        assert view.mso_digest is not None and view.record_digest is not None
        digests = RecordDigests(view.mso_digest, view.record_digest)
        half = status.condition is CardCondition.HALF_PERSONALISED
        if not half and status.condition is not CardCondition.ISSUED:
            raise IssuanceError("card_state", "the card is not in a resumable state", number)
        try:
            self._step(Step.VERIFY, number)
            if card.record is not None and card.result is not None:
                record, result = card.record, card.result
            else:  # half-personalised: challenge the card key under the open channel
                record, _, result = read_and_verify(session, self.verifier, now)
            if result.verdict is not Verdict.VALID or digests_of(record) != digests:
                raise IssuanceError(
                    "verify_failed", "the card does not hold the issued record", number
                )
            pin = puk = None
            if half:
                pin, puk = new_pin_letter(session, self.issuer.key_provider)
                self._step(Step.LOCK, number)
            self._lock_card(session, number, status.serial_text, now, lock=half, pin_reset=half)
        except CARD_FAILURES as exc:
            raise IssuanceError(
                "card_failed", f"card failure while locking: {type(exc).__name__}", number
            ) from None
        self._emit(Step.CONFIRM, "done", number, "resumed")
        if half:
            log.info("permit %s resumed: new PIN letter, card locked", number)
        else:
            log.warning("permit %s: lock confirmed, its PIN letter was lost", number)
        return IssuanceResult(
            number, status.serial_text, digests, pin, puk, resumed=True, pin_letter_lost=not half
        )

    def _lock_card(
        self,
        session: PermitCardSession,
        number: str,
        serial: str,
        now: dt.datetime,
        *,
        lock: bool,
        pin_reset: bool = False,
    ) -> None:
        """Lock the card (if ``lock``) and confirm, in the register transaction that checks
        the permit is still ISSUED on this card; else ``concurrent_issuance``, card unlocked.
        The CONFIRM step begins inside it, after the card command (a crash there leaves the
        lock pending, exactly as a crash between locking and confirming)."""

        def lock_and_confirm() -> None:
            if lock:
                session.lock()
            self._step(Step.CONFIRM, number)

        try:
            self.register.lock_card(
                number, serial, now, self.issuer.actor, lock=lock_and_confirm, pin_reset=pin_reset
            )
        except Superseded:
            log.warning("permit %s was replaced or abandoned meanwhile: card not locked", number)
            raise concurrent(number) from None

    def _personalise(
        self,
        session: PermitCardSession,
        status: CardStatus,
        application: PermitApplication,
        application_id: int,
        now: dt.datetime,
        reservation: Reservation | None,
    ) -> IssuanceResult:
        actor = self.issuer.actor
        serial = status.serial_text
        self._step(Step.RESERVE, None)
        if reservation is None:
            try:
                reservation = self.register.reserve_permit(application_id, serial, now, actor)
            except ActivePermitExists:
                raise IssuanceError(
                    "active_permit_exists", "the person already holds an active permit"
                ) from None
        elif reservation.card_serial != serial:
            raise IssuanceError("wrong_card", "the reservation is for another card")
        number = reservation.permit_number
        self._emit(Step.RESERVE, "done", number)
        pin, puk = random_digits(6), random_digits(8)
        try:
            self._step(Step.OPEN_CHANNEL, number)
            if not session.issuer_channel_open:  # opened by authenticate_card
                session.select()
                session.open_issuer_channel(self.issuer.key_provider)
            if status.condition is CardCondition.HALF_PERSONALISED:
                session.wipe()
                log.info("wiped a half-personalised card for permit %s", number)
            session.begin_personalisation()
            self._step(Step.GENERATE_KEY, number)
            card_key = session.generate_card_key()
            self._step(Step.SIGN, number)
            data = application.permit_data(
                permit_number=number, card_serial=status.serial, issue_date=reservation.issue_date
            )
            record = sign_record(
                data,
                card_key=card_key,
                signer_key=self.issuer.signer_key,
                signer_chain=self.issuer.signer_chain,
                now=now,
                status=self._status_reference(reservation),
            )
            self._step(Step.WRITE, number)
            session.write_file(FileId.RECORD, record)
            session.set_pin(pin)
            session.set_puk(puk)
            self._step(Step.VERIFY, number)
            readback, _, result = read_and_verify(session, self.verifier, now)
            info = session.read_card_info()
            problem = readback_problem(
                record, readback, result.verdict, info.life_cycle, number, serial
            )
            if problem or not (info.card_key_present and info.pin_set and info.puk_set):
                raise IssuanceError(
                    problem or "incomplete", "read-back verification failed", number
                )
        except CARD_FAILURES as exc:
            self._rollback(number, "card_failed", now)
            raise IssuanceError(
                "card_failed", f"card failure: {type(exc).__name__}", number
            ) from None
        except (IssuanceError, RecordError) as exc:
            self._rollback(number, "verify_failed", now)
            if isinstance(exc, IssuanceError):
                raise
            raise IssuanceError("record_failed", str(exc), number) from None
        digests = digests_of(record)
        self._emit(Step.VERIFY, "done", number)
        self._step(Step.MARK_ISSUED, number)
        try:
            self.register.mark_issued(number, digests.mso, digests.record, now, actor)
        except Superseded:
            # abandoned by a concurrent retry of this application: the card is left
            # half-personalised (never locked); any later issuance wipes it
            raise concurrent(number) from None
        self._step(Step.LOCK, number)
        try:
            self._lock_card(session, number, serial, now, lock=True)
        except CARD_FAILURES as exc:
            # Register ISSUED, card verified but not locked: it cannot pass verification.
            # A retry (or reconciliation) with this card locks it; with another, replaces.
            raise IssuanceError(
                "lock_pending", f"card failure while locking: {type(exc).__name__}", number
            ) from None
        self._emit(Step.CONFIRM, "done", number)
        log.info("permit %s issued and card locked", number)
        return IssuanceResult(number, serial, digests, pin=pin, puk=puk)

    def _status_reference(self, reservation: Reservation) -> StatusReference:
        """The record's status reference: the reservation's row id in the office's list."""
        if reservation.status_index is None:  # every reservation carries its row id
            raise IssuanceError("no_status_index", "the reservation has no status index")
        return StatusReference(reservation.status_index, self.issuer.status_list_uri)

    def _rollback(self, number: str, reason: str, now: dt.datetime) -> None:
        """Abandon the reservation; if the database fails too, reconciliation will."""
        try:
            self.register.abandon(number, reason, now, self.issuer.actor)
        except Exception:  # best effort; logged
            log.warning("could not abandon permit %s; left for reconciliation", number)


class _Replace(Exception):
    """Internal: the application's verified-but-unlocked permit must be replaced."""

    def __init__(self, number: str) -> None:
        self.number = number
        super().__init__(number)
