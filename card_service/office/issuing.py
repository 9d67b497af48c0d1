"""The officer's use cases at the counter: applications, issue, endorse, revoke, replace,
terminate, reconcile, verify a card."""

from __future__ import annotations

import datetime as dt

from card_service.record import Verifier
from card_service.register.views import ApplicationDecision, PermitView
from card_service.workflows import IssuanceResult
from card_service.workflows.application import (
    APPLICATION_MAX_BYTES,
    PermitApplication,
    parse_application_bytes,
)
from card_service.workflows.endorsement import EndorsementResult
from card_service.workflows.progress import utc
from card_service.workflows.reconcile import ReconcileOutcome
from card_service.workflows.verify import CardVerification, register_revocation
from permit_errors import PermitError
from reader_drivers.errors import NoCard, NoSuchReader

from .core import OfficeCore
from .errors import ApplicationRejected, ApprovedNotIssued
from .results import CardTerminated

__all__ = ["APPLICATION_MAX_BYTES", "IssuingUseCases"]


class IssuingUseCases(OfficeCore):
    """Use cases that change a permit or a card (mixed into :class:`~.office.Office`)."""

    @staticmethod
    def parse_application(data: bytes) -> PermitApplication:
        """An application document (at most :data:`APPLICATION_MAX_BYTES`), validated
        before anything is recorded; :class:`~.errors.ApplicationError` names the field."""
        return parse_application_bytes(data)

    def submit_application(
        self, application: PermitApplication, now: dt.datetime, *, actor: str = "officer"
    ) -> ApplicationDecision:
        """Record the application and the register's eligibility decision (either way)."""
        with self.database():
            return self.register().submit_application(
                application.applicant_data(), application.application_data(), actor, utc(now)
            )

    def check_application(self, application_id: int, application: PermitApplication) -> None:
        """Raise :class:`~card_service.register.errors.ApplicationMismatch` unless
        ``application`` is the register's application ``application_id``."""
        with self.database():
            self.register().check_application(
                application_id, application.applicant_data(), application.application_data()
            )

    def require_card(self, reader: str) -> None:
        """Fail before anything is recorded when ``reader`` does not exist or is empty."""
        readers = self.cards.readers()
        found = [r for r in readers if r.name == reader]
        if not found:
            raise NoSuchReader(reader, [r.name for r in readers])
        if not found[0].card_present:
            raise NoCard(reader)

    def issue(
        self,
        application: PermitApplication,
        reader: str,
        now: dt.datetime,
        *,
        application_id: int | None = None,
    ) -> IssuanceResult:
        """Submit ``application`` (unless ``application_id`` names an approved one to retry)
        and issue the permit onto the blank card in ``reader``.

        A refused application is :class:`ApplicationRejected`; a failure after approval is
        :class:`ApprovedNotIssued`, naming the application a retry must give.
        """
        with self.database():
            flows = self.workflows(now)
            self.require_card(reader)
            if application_id is not None:
                return flows.issue(application, application_id, reader, now)
            decision = self.submit_application(application, now)
            if not decision.approved:
                raise ApplicationRejected(tuple(decision.reasons))
        try:
            with self.database():
                return flows.issue(application, decision.application_id, reader, now)
        except PermitError as exc:
            raise ApprovedNotIssued(exc, decision.application_id) from None

    def verify_card(
        self, reader: str, now: dt.datetime, *, audit_actor: str | None = "counter"
    ) -> CardVerification:
        """Verify the card in ``reader`` fully (record, card proof, register); the outcome
        goes to the audit log as ``audit_actor``'s.  Failing checks are the result's."""
        with self.database():
            flows = self.workflows(now)
            assert flows.issuer is not None
            verifier = Verifier(flows.issuer.trust, revocation=register_revocation(flows.register))
            return flows.verify(reader, verifier, now, audit_actor=audit_actor)

    def endorse(self, reader: str, now: dt.datetime) -> EndorsementResult:
        """Endorse the permit on the card in ``reader`` (refused outside its window)."""
        with self.database():
            return self.workflows(now).endorse(reader, now)

    def revoke(
        self,
        number: str,
        reason: str,
        now: dt.datetime,
        *,
        effective_at: dt.datetime | None = None,
        actor: str = "officer",
    ) -> PermitView:
        """Revoke permit ``number`` (lost, stolen, cancelled) from ``effective_at`` (default
        ``now``).  Needs no keys: the audit seal is left to the next use case with them."""
        with self.database():
            return self.workflows(now, keys=False).revoke(
                number, reason, effective_at or now, actor, now
            )

    def replace(
        self,
        number: str,
        reason: str,
        application: PermitApplication,
        reader: str,
        now: dt.datetime,
    ) -> IssuanceResult:
        """Revoke ``number`` (``reason``: lost, stolen, damaged) and issue its holder a new
        permit onto the blank card in ``reader``."""
        with self.database():
            return self.workflows(now).replace(number, reason, application, reader, now)

    def terminate(self, reader: str, now: dt.datetime) -> CardTerminated:
        """Terminate the (authenticated) returned card in ``reader``."""
        with self.database():
            return CardTerminated(self.workflows(now).terminate(reader, now))

    def reconcile(
        self, now: dt.datetime, *, older_than: dt.timedelta = dt.timedelta(0)
    ) -> list[ReconcileOutcome]:
        """Finish or roll back every pending issuance older than ``older_than``."""
        with self.database():
            return self.workflows(now).reconcile(now, older_than)
