"""Authenticate the card in a reader before anything is recorded about it.

The serial in EF.CardInfo and the record in EF.Record are public: anyone can read them and
load them into an emulator.  So before an officer workflow (issue and its resume paths,
replace, endorse, terminate) makes its first register write, it proves that the card is
the genuine card, in two independent ways:

* **the card key**, for a card that holds a record (life cycle ISSUED): a fresh 32-byte
  challenge, INTERNAL AUTHENTICATE, and the answer checked against the deviceKey of the
  record read from the card (``Verifier`` with ``require_card_proof``; the callers compare
  that record with the register's digests);
* **the issuer channel**, for every card: SCP03 mutual authentication with the card's
  static keys diversified from the issuer's master key and its serial (INITIALIZE UPDATE
  and EXTERNAL AUTHENTICATE: the host checks the card cryptogram, the card the host's).

A copy with the victim's serial and record but other keys fails both, and the workflow
refuses with ``IssuanceError("card_unauthenticated")`` having changed nothing.  A card whose
EF.CardInfo says its issuer channel is blocked (spec 6.8) is refused first, with
``IssuanceError("issuer_channel_blocked")`` and the remedy "replace the card".  The issuer
channel stays open for the card writes that follow (nothing may SELECT in between).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from card_service.card.errors import CardError
from card_service.card.session import PermitCardSession
from card_service.record import VerificationResult, Verifier
from reader_drivers.errors import ReaderError

from .card_state import CardCondition, CardStatus
from .cardops import read_and_verify
from .errors import IssuanceError
from .issuer import IssuerContext

__all__ = ["AuthenticatedCard", "authenticate_card"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuthenticatedCard:
    """What authentication read: for an ISSUED card its record, endorsements and the
    verification result (whose ``card_authenticated`` is true); ``None`` otherwise."""

    status: CardStatus
    record: bytes | None = None
    endorsements: bytes | None = None
    result: VerificationResult | None = None


def authenticate_card(
    session: PermitCardSession,
    status: CardStatus,
    issuer: IssuerContext,
    verifier: Verifier,
    now: dt.datetime,
    number: str | None = None,
) -> AuthenticatedCard:
    """Prove the card in ``session`` genuine (see the module docstring); the channel is left
    open.  ``status`` is the card's :func:`~.card_state.classify_card` answer."""
    if status.condition is CardCondition.TERMINATED:
        raise IssuanceError("card_terminated", "the card has been terminated", number)
    if status.issuer_channel_blocked:
        # no issuer channel can open, so nothing could follow: refuse before the register
        # hears anything (docs/card-application.md 6.8: the office replaces the card)
        log.warning("card %s: issuer channel blocked", status.serial_text)
        raise IssuanceError(
            "issuer_channel_blocked",
            "the card's issuer channel is blocked (too many failed issuer authentications)",
            number,
            remedy="replace the card",
        )
    try:
        read = AuthenticatedCard(status)
        if status.condition is CardCondition.ISSUED:
            record, endorsements, result = read_and_verify(session, verifier, now)
            if not result.card_authenticated:
                log.warning("card %s failed INTERNAL AUTHENTICATE", status.serial_text)
                raise IssuanceError(
                    "card_unauthenticated",
                    "the card's key does not match its record (a copy?)",
                    number,
                )
            read = AuthenticatedCard(status, record, endorsements, result)
        session.select()
        session.open_issuer_channel(issuer.key_provider)
    except ReaderError as exc:
        raise IssuanceError(
            "card_failed", f"card failure while authenticating: {type(exc).__name__}", number
        ) from None
    except CardError as exc:
        log.warning("card %s failed authentication (%s)", status.serial_text, type(exc).__name__)
        raise IssuanceError(
            "card_unauthenticated",
            f"the card could not be authenticated ({type(exc).__name__})",
            number,
        ) from None
    return read
