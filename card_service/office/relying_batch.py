"""Relying-party verifications, one or a batch: the use case of ``POST /v1/verifications``.

A batch (:meth:`RelyingBatchUseCases.verify_presentations`) does for each presentation
exactly what one verification does (:mod:`.relying`, "The rules"), in the same order, but
shares the round trips: every nonce is spent in one request to the shared store, the
register's facts are read on one connection, and every outcome's audit entry goes into one
group commit.  The HTTP service gathers the verifications that arrive together into one
batch (:mod:`api.http.batching`); a single call is a batch of one, so there is one code path.

Each presentation's outcome is its own: a failure of one (its nonce, its scope, its record)
is that one's answer.  Failures of a shared step are each caller's: a shared store that does
not answer fails every presentation of the batch closed (503, their nonces spent), a
register that does not answer fails those that needed it, an audit group that did not
commit fails its entries - and no answer is given before its audit entry is durable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from card_service.audit.chain import is_permit_number
from card_service.clients import ApiClient
from card_service.record import CardProof, Verdict, VerificationResult
from card_service.shared_state import ChallengeOutcome, SharedStateUnavailable
from card_service.shared_state.model import nonce_well_formed
from permit_errors import PermitError

from .errors import RegisterUnavailable
from .relying import (
    OutOfScope,
    Presentation,
    RelyingUseCases,
    RelyingVerification,
    _carried_elements,
    _challenge_failure,
    _nonce_bytes,
    disclosed_scope,
)

__all__ = ["PresentationRequest", "RelyingBatchUseCases"]

#: The answer to one presentation of a batch: the verdict, or the error it raises.
Outcome = RelyingVerification | PermitError


@dataclass(frozen=True, repr=False)
class PresentationRequest:
    """One presentation to verify for ``client`` at ``now`` (``audit_actor``: who the audit
    log names).  ``repr`` shows no personal data."""

    client: ApiClient
    presentation: Presentation
    now: dt.datetime
    audit_actor: str

    def __repr__(self) -> str:
        return f"PresentationRequest({self.client.client_id}, {self.presentation!r})"


@dataclass
class _Pending:
    """One presentation on its way through the batch."""

    request: PresentationRequest
    outcome: Outcome | None = None
    result: VerificationResult | None = None
    number: str | None = None
    #: Whether the register is asked about ``number`` (not for a forged record).
    look_up: bool = False
    #: The audit result code, once the outcome is decided.
    audit: str | None = None


class RelyingBatchUseCases(RelyingUseCases):
    """Relying-party verification (mixed into :class:`~.office.Office`)."""

    def verify_presentation(
        self,
        client: ApiClient,
        presentation: Presentation,
        now: dt.datetime,
        *,
        audit_actor: str,
    ) -> RelyingVerification:
        """Spend the nonce, check the scope, verify the record with the card proof and the
        register's revocation, audit the outcome, answer only the scoped elements.

        :class:`~card_service.shared_state.SharedStateUnavailable` (the nonce could not be
        spent), :class:`~.relying.OutOfScope`, or a register failure
        (``RegisterUnavailable``: never REVOKED for an outage) raise, after the audit entry
        when the register answers; every other failure is the answer's verdict."""
        outcome = self.verify_presentations(
            [PresentationRequest(client, presentation, now, audit_actor)]
        )[0]
        if isinstance(outcome, PermitError):
            raise outcome
        return outcome

    def verify_presentations(self, requests: Sequence[PresentationRequest]) -> list[Outcome]:
        """:meth:`verify_presentation` of each request, as one batch (see the module text):
        for each, its answer or the error it raises, in order."""
        pending = [_Pending(r) for r in requests]
        self._spend(pending)
        for item in pending:
            if item.outcome is None:
                self._check(item)
        self._register_checks(pending)
        for item in pending:
            if item.outcome is None:
                self._answer(item)
        self._audit_all(pending)
        return [item.outcome for item in pending if item.outcome is not None]

    # -- the steps -------------------------------------------------------------------------

    def _spend(self, pending: list[_Pending]) -> None:
        """Spend every nonce first, in one round trip; anything but CONSUMED is that
        presentation's failing verdict, without its record being looked at."""
        claims = [
            (
                p.request.presentation.nonce
                if nonce_well_formed(p.request.presentation.nonce)
                else "",
                p.request.client.client_id,
                p.request.now,
            )
            for p in pending
        ]
        try:
            outcomes = self.shared_state.challenges.consume_many(claims)
        except SharedStateUnavailable as exc:
            for item in pending:
                item.outcome, item.audit = exc, "failed:shared_state_unavailable"
            return
        for item, outcome in zip(pending, outcomes, strict=True):
            if outcome is not ChallengeOutcome.CONSUMED:
                item.outcome = _challenge_failure(outcome)
                item.audit = f"failed:challenge_{outcome.value}"

    def _check(self, item: _Pending) -> None:
        """The record, its card proof and endorsements; then the disclosure scope, on the
        items the verifier parsed."""
        request = item.request
        presentation, now = request.presentation, request.now
        result = self._relying(now).verify(
            presentation.record,
            now=now,
            endorsements=presentation.endorsements,
            card_proof=CardProof(_nonce_bytes(presentation.nonce), presentation.card_signature),
            require_card_proof=True,
        )
        # a record the verifier could not take as far as its items is parsed here (an
        # out-of-scope element is refused even in a broken record)
        carried = result.carried
        if carried is None:
            carried = _carried_elements(presentation.record)
        allowed = disclosed_scope(request.client)
        if carried is not None and not carried <= allowed:
            item.outcome = OutOfScope(
                "the presentation carries elements outside this client's disclosure scope: "
                "present only " + ", ".join(sorted(allowed))
            )
            item.audit = "refused:out_of_scope"
            return
        item.result = result
        number = result.elements.get("permit_number")  # none in a forged record
        if isinstance(number, str):
            item.number = number
            item.look_up = result.verdict not in (Verdict.FORGED, Verdict.MALFORMED)

    def _register_checks(self, pending: list[_Pending]) -> None:
        """The register's facts of every permit to look up, on one connection."""
        wanted = [p for p in pending if p.outcome is None and p.look_up]
        if not wanted:
            return
        try:
            with self.database("cannot read the register ({name})"):
                facts = self.reader_register().permit_facts_each([p.number or "" for p in wanted])
        except RegisterUnavailable as exc:  # an outage is not a revocation: 503, audited
            for item in wanted:
                item.outcome, item.audit, item.number = exc, "failed:register_unavailable", None
            return
        for item, fact in zip(wanted, facts, strict=True):
            assert item.result is not None
            item.result = self._facts_check(item.result, fact, item.request.now)

    def _answer(self, item: _Pending) -> None:
        result = item.result
        assert result is not None
        allowed = disclosed_scope(item.request.client)
        answer = self._scoped(result, allowed, ChallengeOutcome.CONSUMED)
        reasons = ",".join(r.code for r in result.reasons)
        item.outcome = answer
        item.audit = (
            "passed" if answer.valid else f"failed:{result.verdict.value.lower()}:{reasons}"
        )

    def _audit_all(self, pending: list[_Pending]) -> None:
        """Every outcome's ``permit.verify`` entry in one group commit (no personal data:
        a number that is not a well-formed permit number is not trusted into the log); an
        entry that did not commit turns its answer into :class:`RegisterUnavailable`."""
        entries = []
        for item in pending:
            number = item.number if item.number and is_permit_number(item.number) else None
            assert item.audit is not None
            entries.append((number, item.audit[:200], item.request.audit_actor, item.request.now))
        try:
            with self.database("cannot write the audit log ({name})"):
                failures = self.register(sealing=False).record_verifications(entries)
        except RegisterUnavailable as exc:
            for item in pending:
                item.outcome = exc
            return
        for item, failure in zip(pending, failures, strict=True):
            if failure is not None:
                item.outcome = RegisterUnavailable(f"cannot write the audit log ({failure})")
