"""Endorse the permit on the card in a reader (Article 10), on time or late.

Order: the card is authenticated first (its key against the record's deviceKey with a
fresh challenge, and the SCP03 issuer channel: :mod:`.authenticate`), then the signed
item is built (so a permit the card's own data says cannot be
endorsed - window not open, expired - changes nothing), then the register records it
(``record_endorsement``: due window, late flag, audit), then the card gets it (one signed item
appended through the issuer channel; EF.Endorsements is append-only in state ISSUED and each
UPDATE BINARY is atomic).  If the card step fails, the retry sees the register one
endorsement ahead of the card and writes to the card the endorsement the register holds,
signed with the register's instant, so both carry the same period.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from card_service.card.access import CardAccess
from card_service.card.wire import FileId
from card_service.record import Verifier, endorse
from card_service.record.endorsement import split_endorsements
from card_service.record.errors import RecordError
from card_service.record.schedule import EndorsementNotDue
from card_service.register.models import PermitState
from card_service.register.service import Register
from keys.errors import SignerValidationError

from .authenticate import authenticate_card
from .card_state import CardCondition, classify_card
from .cardops import digests_of, record_values
from .issuance import IssuanceError
from .issuer import IssuerContext
from .progress import utc

__all__ = ["EndorsementResult", "endorse_card"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndorsementResult:
    permit_number: str
    sequence: int
    late: bool


def _signer_may_sign_at(issuer: IssuerContext, at: dt.datetime, now: dt.datetime) -> bool:
    """Whether a verifier with the issuer's trust list accepts the current document signer
    for a signature dated ``at`` (validity, signing window, CRL: the verifier's own rule)."""
    try:
        issuer.trust.validate_signer(issuer.signer_chain, at=at, now=now)
    except SignerValidationError:
        return False
    return True


def endorse_card(
    register: Register, issuer: IssuerContext, cards: CardAccess, reader: str, now: dt.datetime
) -> EndorsementResult:
    """Endorse the permit on the card in ``reader`` (see the module docstring for the order)."""
    now = utc(now)
    with cards.session(reader, exclusive=True) as session:
        status = classify_card(session)
        if status.condition is not CardCondition.ISSUED:
            raise IssuanceError("card_not_issued", "only a locked (issued) card can be endorsed")
        # card key (fresh challenge vs. the record's deviceKey) and issuer channel, before
        # the register hears anything: a copy of serial and record is refused here
        card = authenticate_card(session, status, issuer, Verifier(issuer.trust), now)
        assert card.record is not None and card.endorsements is not None
        record, existing = card.record, card.endorsements
        number = record_values(record).get("permit_number")
        if not isinstance(number, str):
            raise IssuanceError("record_unreadable", "the card holds no permit number")
        view = register.permit(number)
        if view.state is not PermitState.ISSUED or view.card_serial != status.serial_text:
            raise IssuanceError(
                "not_issued", "the register does not list this card as issued", number
            )
        if view.record_digest != digests_of(record).record:
            raise IssuanceError(
                "digest_mismatch", "the card's record is not the issued one", number
            )
        on_card = len(split_endorsements(existing))
        if len(view.endorsements) > on_card + 1 or len(view.endorsements) < on_card:
            raise IssuanceError(
                "endorsements_diverge", "the card and the register disagree on endorsements", number
            )
        behind = len(view.endorsements) == on_card + 1
        last = view.endorsements[-1] if behind else None
        granted = (last.recorded_at if last is not None else None) or now
        if last is not None and not _signer_may_sign_at(issuer, granted, now):
            # The item must carry the register's instant (its period depends on it), and a
            # signer certified after that instant cannot sign for it (the verifier would
            # call it FORGED).  Rare: the card write failed and was not retried within the
            # document signer's signing window.  docs/workflows.md: replace the card.
            raise IssuanceError(
                "endorsement_signer_rotated",
                "the endorsement recorded earlier can no longer be signed by the current "
                "document signer; replace the card (permit replace)",
                number,
            )
        try:
            item = endorse(
                record,
                existing,
                signer_key=issuer.signer_key,
                signer_chain=issuer.signer_chain,
                now=now,
                endorsed_at=granted,
            )
        except EndorsementNotDue as exc:
            raise IssuanceError("not_due", str(exc), number) from None
        except RecordError as exc:
            raise IssuanceError("record_unusable", str(exc), number) from None
        if last is not None:
            late = last.late
            log.info("permit %s: writing the endorsement the register already holds", number)
        else:
            late = register.record_endorsement(number, now, issuer.actor).late
        session.append_file(FileId.ENDORSEMENTS, item)  # the authenticated channel
        log.info("permit %s endorsed (sequence %d)", number, on_card + 1)
        return EndorsementResult(number, on_card + 1, late)
