"""Endorse the permit on the card in a reader (Article 10), on time or late.

Order: register first (``record_endorsement``: due window, late flag, audit), then the card
(append one signed item through the issuer channel; EF.Endorsements is append-only in state
ISSUED and each UPDATE BINARY is atomic).  If the card step fails, the retry sees the
register one endorsement ahead of the card and only writes the card.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from card_service.card.session import PermitCardSession
from card_service.card.wire import FileId
from card_service.record import endorse
from card_service.record.endorsement import split_endorsements
from card_service.register.models import PermitState
from card_service.register.service import Register
from reader_drivers.base import ReaderDriver

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


def endorse_card(
    register: Register, issuer: IssuerContext, driver: ReaderDriver, reader: str, now: dt.datetime
) -> EndorsementResult:
    now = utc(now)
    connection = driver.connect(reader, exclusive=True)
    try:
        session = PermitCardSession(connection)
        status = classify_card(session)
        if status.condition is not CardCondition.ISSUED:
            raise IssuanceError("card_not_issued", "only a locked (issued) card can be endorsed")
        record = session.read_file(FileId.RECORD)
        existing = session.read_file(FileId.ENDORSEMENTS)
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
        late = False
        if len(view.endorsements) <= on_card:
            recorded = register.record_endorsement(number, now, issuer.actor)
            late = recorded.late
        item = endorse(
            record,
            existing,
            signer_key=issuer.signer_key,
            signer_chain=issuer.signer_chain,
            now=now,
        )
        session.select()
        session.open_issuer_channel(issuer.key_provider)
        session.append_file(FileId.ENDORSEMENTS, item)
        log.info("permit %s endorsed (sequence %d)", number, on_card + 1)
        return EndorsementResult(number, on_card + 1, late)
    finally:
        connection.disconnect()
