"""Revoke, replace and terminate (Articles 11-12).  The register is the record of truth:
revocation is a register transaction (relying parties online see it through
:func:`verify.register_revocation`); replacement revokes and reserves in one transaction,
then personalises the new card with the ordinary issuance workflow; a returned card is
terminated in the register first (refused while bound to a live permit), then on the card.
Every card is authenticated (:mod:`.authenticate`) before the first register write.
"""

from __future__ import annotations

import datetime as dt

from card_service.card.access import CardAccess
from card_service.record import Verifier
from card_service.register.errors import NotFound
from card_service.register.service import Register
from card_service.register.views import PermitView

from .application import PermitApplication
from .authenticate import authenticate_card
from .card_state import classify_card
from .issuance import IssuanceError, IssuanceResult, IssuanceWorkflow, check_application
from .issuer import IssuerContext
from .progress import utc

__all__ = ["replace_permit", "revoke_permit", "terminate_card"]


def revoke_permit(
    register: Register,
    number: str,
    reason: str,
    *,
    effective_at: dt.datetime,
    actor: str,
    now: dt.datetime,
) -> PermitView:
    """``reason``: lost, stolen or cancelled (``replaced`` comes from :func:`replace_permit`)."""
    return register.revoke(number, reason, utc(effective_at), actor, utc(now))


def replace_permit(
    workflow: IssuanceWorkflow,
    number: str,
    reason: str,
    application: PermitApplication,
    reader: str,
    now: dt.datetime,
) -> IssuanceResult:
    """Revoke ``number`` (replaced) and issue a new permit onto the blank card in ``reader``.

    ``application`` must be the data of the permit being replaced (checked before anything
    changes): a replacement card carries the same holder's permit."""
    try:
        original = workflow.register.permit(number).application_id
    except NotFound:
        raise IssuanceError("not_found", "no such permit", number) from None
    check_application(workflow.register, original, application)
    with workflow.cards.session(reader, exclusive=True) as session:
        status = classify_card(session)
        # the new card must be genuine before the old permit is revoked for it
        authenticate_card(session, status, workflow.issuer, workflow.verifier, utc(now), number)
        serial = status.serial_text
    reservation = workflow.register.replace(number, reason, serial, workflow.issuer.actor, utc(now))
    return workflow.issue(
        application, reservation.application_id, reader, now, reservation=reservation
    )


def terminate_card(
    register: Register, issuer: IssuerContext, cards: CardAccess, reader: str, now: dt.datetime
) -> str:
    """Terminate a returned card; its serial.  The card is authenticated (issuer channel;
    a locked card also by its key against its record) before the register is told."""
    with cards.session(reader, exclusive=True) as session:
        status = classify_card(session)
        authenticate_card(session, status, issuer, Verifier(issuer.trust), utc(now))
        serial = status.serial_text
        register.terminate_card(serial, issuer.actor, utc(now))
        session.terminate()  # the authenticated channel
        return serial
