"""Classify the card in a reader: blank, half-personalised, issued (locked) or terminated.

A card is *half-personalised* when it is in PERSONALISING: whatever it holds, it can never
pass verification (relying parties require life cycle ISSUED) and can be wiped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from card_service.card.session import PermitCardSession
from card_service.card.wire import LifeCycle

__all__ = ["CardCondition", "CardStatus", "classify_card", "serial_text"]


class CardCondition(StrEnum):
    BLANK = "blank"
    HALF_PERSONALISED = "half_personalised"
    ISSUED = "issued"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class CardStatus:
    serial: bytes
    condition: CardCondition
    life_cycle: LifeCycle
    card_key_present: bool
    pin_set: bool
    puk_set: bool
    #: EF.CardInfo's issuer authentication counter is 0 (spec 6.8): the card can be read
    #: and verified but never personalised, endorsed or terminated again.
    issuer_channel_blocked: bool = False

    @property
    def serial_text(self) -> str:
        return serial_text(self.serial)


def serial_text(serial: bytes) -> str:
    """The card serial as the register and the record spell it (upper-case hex)."""
    return serial.hex().upper()


_CONDITION = {
    LifeCycle.BLANK: CardCondition.BLANK,
    LifeCycle.PERSONALISING: CardCondition.HALF_PERSONALISED,
    LifeCycle.ISSUED: CardCondition.ISSUED,
    LifeCycle.TERMINATED: CardCondition.TERMINATED,
}


def classify_card(session: PermitCardSession) -> CardStatus:
    """SELECT and read EF.CardInfo (plain, no keys needed)."""
    session.select()
    info = session.read_card_info()
    return CardStatus(
        serial=info.serial,
        condition=_CONDITION[info.life_cycle],
        life_cycle=info.life_cycle,
        card_key_present=info.card_key_present,
        pin_set=info.pin_set,
        puk_set=info.puk_set,
        issuer_channel_blocked=info.issuer_channel_blocked,
    )
