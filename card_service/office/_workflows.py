"""The card workflows bound to one office's parts.

:class:`Workflows` is the one place that hands the workflows the office's card seam
(:class:`~card_service.card.access.CardAccess`), its register and its issuer context.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from card_service.card.access import CardAccess
from card_service.record import Verifier
from card_service.register.service import Register
from card_service.register.views import PermitView
from card_service.workflows import IssuanceResult, IssuanceWorkflow, IssuerContext
from card_service.workflows import reconcile as _reconcile
from card_service.workflows.application import PermitApplication
from card_service.workflows.endorsement import EndorsementResult, endorse_card
from card_service.workflows.reconcile import ReconcileOutcome
from card_service.workflows.revocation import replace_permit, revoke_permit, terminate_card
from card_service.workflows.verify import CardVerification, verify_card

__all__ = ["Workflows"]


@dataclass
class Workflows:
    """The register, issuer context and card access one use case runs with."""

    register: Register
    issuer: IssuerContext | None
    cards: CardAccess
    issuance: IssuanceWorkflow | None

    def _issuer(self) -> IssuerContext:
        assert self.issuer is not None, "built without keys"
        return self.issuer

    def _workflow(self) -> IssuanceWorkflow:
        assert self.issuance is not None, "built without keys"
        return self.issuance

    def issue(
        self, application: PermitApplication, application_id: int, reader: str, now: dt.datetime
    ) -> IssuanceResult:
        return self._workflow().issue(application, application_id, reader, now)

    def verify(
        self, reader: str, verifier: Verifier, now: dt.datetime, *, audit_actor: str | None
    ) -> CardVerification:
        return verify_card(
            self.cards,
            reader,
            verifier,
            now,
            register=self.register,
            audit_actor=audit_actor,
        )

    def endorse(self, reader: str, now: dt.datetime) -> EndorsementResult:
        return endorse_card(self.register, self._issuer(), self.cards, reader, now)

    def revoke(
        self, number: str, reason: str, effective_at: dt.datetime, actor: str, now: dt.datetime
    ) -> PermitView:
        return revoke_permit(
            self.register, number, reason, effective_at=effective_at, actor=actor, now=now
        )

    def replace(
        self,
        number: str,
        reason: str,
        application: PermitApplication,
        reader: str,
        now: dt.datetime,
    ) -> IssuanceResult:
        return replace_permit(self._workflow(), number, reason, application, reader, now)

    def terminate(self, reader: str, now: dt.datetime) -> str:
        return terminate_card(self.register, self._issuer(), self.cards, reader, now)

    def reconcile(self, now: dt.datetime, older_than: dt.timedelta) -> list[ReconcileOutcome]:
        return _reconcile(self.register, self._issuer(), self.cards, now, older_than=older_than)
