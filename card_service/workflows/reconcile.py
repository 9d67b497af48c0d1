"""Startup reconciliation: finish or roll back issuances left pending by a crash.

* register RESERVED: roll back - abandon the permit and wipe its card if it is in a reader
  and half-personalised.  Safe because a RESERVED permit's card is never locked (the
  workflow locks only after ``mark_issued``).
* register ISSUED, lock pending (``card_locked_at`` unset): if the card is in a reader and
  already locked, check it holds exactly the issued record (digests) and verifies, confirm
  (``confirmed_pin_letter_lost``: its PIN letter was never shown, a locked card's PIN cannot
  be reset).
  An unlocked card is *not* locked here: its PIN letter was never shown (the issuance
  failed before returning it), and nobody is present at start-up to be shown a new one.
  It stays lock pending (``lock_pending_new_pin_letter``): the officer resumes the
  issuance with the card (``issue`` of the same application), which sets a fresh PIN and
  PUK, locks the card and returns the new PIN letter.
  If the card is absent the permit stays lock-pending: the card cannot pass verification
  (not locked); the next ``issue`` of the application replaces it, or an officer revokes it.

``older_than`` keeps a live service's in-flight issuances (another process) untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from card_service.card.access import CardAccess
from card_service.register.errors import Superseded
from card_service.register.service import Register

from .card_state import CardCondition, CardStatus, classify_card
from .cardops import digests_of, read_and_verify
from .issuance import CARD_FAILURES
from .issuer import IssuerContext
from .progress import utc

__all__ = ["ReconcileOutcome", "reconcile"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcileOutcome:
    permit_number: str
    #: ``rolled_back``, ``confirmed_pin_letter_lost`` (the card was already locked; its PIN
    #: letter was never shown and cannot be reissued), ``lock_pending_new_pin_letter``
    #: (resume the issuance with the card: it prints the new PIN letter),
    #: ``lock_pending_card_absent``, ...
    action: str
    #: The permit's application (what ``permit issue --application-id`` resumes).
    application_id: int | None = None


def _find_card(cards: CardAccess, serial: str) -> tuple[str, CardStatus] | None:
    """The reader holding the card with ``serial`` (upper-case hex), if any.  Each card is
    only read (shared access); a reader that fails or is busy is skipped."""
    for info in cards.readers():
        if not info.card_present:
            continue
        try:
            with cards.session(info.name, exclusive=False) as session:
                status = classify_card(session)
        except CARD_FAILURES:
            continue
        if status.serial_text == serial:
            return info.name, status
    return None


def _wipe_if_half(cards: CardAccess, issuer: IssuerContext, serial: str) -> bool:
    found = _find_card(cards, serial)
    if found is None or found[1].condition is not CardCondition.HALF_PERSONALISED:
        return False
    # a failure to connect propagates (reconciliation stops); a card failure does not
    with cards.session(found[0], exclusive=True) as session:
        try:
            session.select()
            session.open_issuer_channel(issuer.key_provider)
            session.wipe()
            return True
        except CARD_FAILURES:
            return False


def _lock(
    register: Register,
    issuer: IssuerContext,
    cards: CardAccess,
    number: str,
    serial: str,
    mso: str,
    record_digest: str,
    now: dt.datetime,
) -> str:
    found = _find_card(cards, serial)
    if found is None:
        return "lock_pending_card_absent"
    reader, status = found
    if status.condition is CardCondition.HALF_PERSONALISED:
        # Locking it would issue a card whose PIN nobody knows: the officer's resume sets a
        # fresh PIN and shows the letter (docs/workflows.md, "PIN letter of a resumed
        # issuance").  Nothing is written to the card or the register.
        return "lock_pending_new_pin_letter"
    if status.condition is not CardCondition.ISSUED:
        return "lock_pending_card_unusable"
    from card_service.record import Verdict, Verifier

    # a failure to connect propagates (reconciliation stops); a card failure does not
    with cards.session(reader, exclusive=True) as session:
        try:
            session.select()
            # authenticated by the issuer channel and (below) its key, before any register
            # write
            session.open_issuer_channel(issuer.key_provider)
            record, _, result = read_and_verify(session, Verifier(issuer.trust), now)
            digests = digests_of(record)
            if result.verdict is not Verdict.VALID or (digests.mso, digests.record) != (
                mso,
                record_digest,
            ):
                return "lock_pending_card_mismatch"
            # the card is locked only if the register, in the same transaction, still has
            # the permit ISSUED on this card (a concurrent replace may have revoked it)
            register.lock_card(number, serial, now, issuer.actor, lock=None)
        except CARD_FAILURES:
            return "lock_pending_card_failed"
        except Superseded:
            return "superseded"
    return "confirmed_pin_letter_lost"


def reconcile(
    register: Register,
    issuer: IssuerContext,
    cards: CardAccess,
    now: dt.datetime,
    *,
    older_than: dt.timedelta = dt.timedelta(0),
) -> list[ReconcileOutcome]:
    """Finish or roll back every pending issuance older than ``older_than``."""
    now = utc(now)
    cutoff = now - older_than
    outcomes: list[ReconcileOutcome] = []
    for view in register.lock_pending():
        assert view.issued_at is not None
        assert view.mso_digest is not None and view.record_digest is not None
        if utc(view.issued_at) > cutoff:
            continue
        action = _lock(
            register,
            issuer,
            cards,
            view.number,
            view.card_serial,
            view.mso_digest,
            view.record_digest,
            now,
        )
        outcomes.append(ReconcileOutcome(view.number, action, view.application_id))
    for reserved in register.pending_issuances():
        if utc(reserved.reserved_at) > cutoff:
            continue
        _wipe_if_half(cards, issuer, reserved.card_serial)
        register.abandon(reserved.permit_number, "reconciled", now, issuer.actor)
        outcomes.append(ReconcileOutcome(reserved.permit_number, "rolled_back"))
    for outcome in outcomes:
        log.info("reconciled %s: %s", outcome.permit_number, outcome.action)
    return outcomes
