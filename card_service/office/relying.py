"""Relying parties (merchants, banks): single-use challenges, selective presentations checked
within the client's disclosure scope, the status of a permit; and the terminal's side (the
card answers a challenge, the presentation is built).  The verification itself, one or a
batch, is :mod:`.relying_batch`.

The rules (docs/http-api.md, "Relying parties"):

* a challenge is issued to one client for a short time (the shared store,
  :mod:`card_service.shared_state`); a presentation spends it **first**, atomically, and
  anything but :attr:`~card_service.shared_state.ChallengeOutcome.CONSUMED` is a failing
  verdict (``challenge_<outcome>``) without the record even being looked at.  A store that
  does not answer is :class:`~card_service.shared_state.SharedStateUnavailable` (fail closed);
* a presentation that carries an element outside the client's scope (the mandatory elements
  are always admitted) is :class:`OutOfScope`: nothing is disclosed;
* the card proof is required: the card's INTERNAL AUTHENTICATE answer over the nonce;
* every verification, failing or refused, is appended to the audit log (no personal data)
  before the answer.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from card_service.card.wire import FileId
from card_service.clients import ApiClient
from card_service.record import Reason, Verdict, VerificationResult, Verifier, present
from card_service.record.data import ELEMENT_TYPES, MANDATORY_ELEMENTS
from card_service.record.endorsement import ENDORSEMENTS_MAX_BYTES
from card_service.record.errors import RecordError
from card_service.record.issuer_signed import RECORD_MAX_BYTES, RecordFormatError, parse_record
from card_service.record.record_parser import ParsedItem
from card_service.record.verdict import decide
from card_service.register.errors import NotFound
from card_service.register.models import PermitState
from card_service.register.service import effective_state
from card_service.register.views import PermitFacts
from card_service.shared_state import Challenge, ChallengeOutcome
from card_service.shared_state.model import nonce_well_formed
from permit_errors import ErrorKind, PermitError

from .core import OfficeCore
from .errors import RequestInvalid

__all__ = [
    "PRESENTATION_FORMAT",
    "OutOfScope",
    "PermitNotFound",
    "PermitStatus",
    "Presentation",
    "RelyingUseCases",
    "RelyingVerification",
    "disclosed_scope",
]

log = logging.getLogger(__name__)

#: The ``format`` of a presentation document (the body of ``POST /v1/verifications``).
PRESENTATION_FORMAT = "permit-presentation/1"
#: The card's INTERNAL AUTHENTICATE answer: r || s of a P-256 signature.
SIGNATURE_BYTES = 64


class OutOfScope(PermitError):
    """The presentation carries elements the client may not receive (refused, nothing
    disclosed: the terminal must leave them out)."""

    code = "presentation_out_of_scope"
    kind = ErrorKind.FORBIDDEN


class PermitNotFound(PermitError):
    """No issued permit has this number."""

    code = "permit_not_found"
    kind = ErrorKind.NOT_FOUND


class PermitStatus(StrEnum):
    """What the status route says about a permit, and nothing more."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: object, name: str, limit: int) -> bytes:
    if not isinstance(text, str) or len(text) > (limit * 4) // 3 + 4:
        raise RequestInvalid(f"{name} must be base64url text of at most {limit} bytes")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise RequestInvalid(f"{name} is not base64url") from None


@dataclass(frozen=True, repr=False)
class Presentation:
    """What a terminal sends: a selective presentation of the card's record, its
    endorsements, the challenge's nonce and the card's answer over it.  Personal data:
    ``repr`` shows none."""

    record: bytes
    endorsements: bytes
    nonce: str
    card_signature: bytes

    def __repr__(self) -> str:
        return f"Presentation(<{len(self.record)} bytes>, nonce=<redacted>)"

    def to_json(self) -> dict[str, str]:
        """The wire form: JSON with unpadded base64url byte fields."""
        return {
            "format": PRESENTATION_FORMAT,
            "nonce": self.nonce,
            "record": _b64(self.record),
            "endorsements": _b64(self.endorsements),
            "card_signature": _b64(self.card_signature),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Presentation:
        """Parse the wire form; a bad field is :class:`RequestInvalid` naming the field."""
        if document.get("format") != PRESENTATION_FORMAT:
            raise RequestInvalid(f"format must be {PRESENTATION_FORMAT!r}")
        nonce = document.get("nonce")
        if not isinstance(nonce, str) or len(nonce) > 64:
            raise RequestInvalid("nonce must be the challenge's nonce text")
        return cls(
            record=_unb64(document.get("record"), "record", RECORD_MAX_BYTES),
            endorsements=_unb64(
                document.get("endorsements", ""), "endorsements", ENDORSEMENTS_MAX_BYTES
            ),
            nonce=nonce,
            card_signature=_unb64(
                document.get("card_signature"), "card_signature", SIGNATURE_BYTES
            ),
        )


@dataclass(frozen=True, repr=False)
class RelyingVerification:
    """The answer to a relying party: the verdict, its reasons, the challenge's outcome,
    and only the elements of the client's scope (plus the mandatory ones), only when the
    record is authentic.  ``repr`` shows no element value."""

    verdict: str
    reasons: tuple[Reason, ...]
    challenge: ChallengeOutcome
    elements: Mapping[str, Any] = field(default_factory=dict)
    #: Only when ``residence_began`` is in the client's scope.
    years_of_residence: int | None = None

    @property
    def valid(self) -> bool:
        return self.verdict == Verdict.VALID.value

    def __repr__(self) -> str:
        return f"RelyingVerification({self.verdict}, elements={sorted(self.elements)})"


def disclosed_scope(client: ApiClient) -> frozenset[str]:
    """What ``client`` may receive: its scope and the mandatory elements."""
    return frozenset(client.scope) | frozenset(MANDATORY_ELEMENTS)


def _challenge_failure(outcome: ChallengeOutcome) -> RelyingVerification:
    reason = Reason(
        f"challenge_{outcome.value}",
        Verdict.CLONED,
        "the challenge is not one this client may spend now (single use, short-lived)",
    )
    return RelyingVerification("INVALID", (reason,), outcome)


def _nonce_bytes(nonce: str) -> bytes:
    """The 32 random bytes of a well-formed nonce (what the card signs)."""
    return base64.urlsafe_b64decode(nonce + "=")


def _carried_elements(record: bytes) -> frozenset[str] | None:
    """The element identifiers the presentation carries, in any namespace, including items
    that are not in the issuer's encoding (an out-of-scope element re-encoded is still
    carried: refused, not merely MALFORMED); ``None``: not parseable, the verifier will say
    MALFORMED."""
    try:
        parsed = parse_record(record)
    except RecordFormatError:
        return None
    return frozenset(e.identifier for e in parsed.entries if isinstance(e, ParsedItem))


class RelyingUseCases(OfficeCore):
    """Relying-party use cases (mixed into :class:`~.office.Office`)."""

    _relying_verifier: Verifier | None = None

    def issue_challenge(
        self, client: ApiClient, now: dt.datetime, *, ttl: dt.timedelta | None = None
    ) -> Challenge:
        """A single-use nonce bound to ``client``, expiring at ``now + ttl`` (default
        :data:`~card_service.shared_state.DEFAULT_TTL`)."""
        return self.shared_state.challenges.issue(client.client_id, now, ttl)

    def permit_status(self, number: str, now: dt.datetime) -> PermitStatus:
        """``valid``, ``suspended`` or ``revoked`` at ``now``; a number never issued (or
        only reserved, or abandoned) is :class:`PermitNotFound`."""
        with self.database("cannot read the register ({name})"):
            try:
                view = self.reader_register().permit(number)
            except NotFound:
                raise PermitNotFound("no issued permit has this number") from None
        if view.issued_at is None or view.state not in (PermitState.ISSUED, PermitState.REVOKED):
            raise PermitNotFound("no issued permit has this number")
        state = effective_state(view, now)
        if state == "REVOKED":
            return PermitStatus.REVOKED
        if state == "SUSPENDED":
            return PermitStatus.SUSPENDED
        return PermitStatus.VALID

    def present_card(self, reader: str, nonce: str, elements: Iterable[str]) -> Presentation:
        """The terminal's side: read the card in ``reader``, have it sign the challenge
        (INTERNAL AUTHENTICATE over ``nonce``'s bytes) and build the presentation of
        ``elements`` (plus the mandatory ones).  No issuer key is needed."""
        if not nonce_well_formed(nonce):
            raise RequestInvalid("the challenge must be the nonce text a verifier issued")
        wanted = list(elements)
        unknown = sorted(set(wanted) - set(ELEMENT_TYPES))
        if unknown:
            raise RequestInvalid(f"unknown elements: {', '.join(unknown)}")
        with self.cards.session(reader, exclusive=False) as session:
            # a fresh card session (the card put back, or reset by another process's
            # connection) has nothing selected
            session.select()
            record = session.read_file(FileId.RECORD)
            endorsements = session.read_file(FileId.ENDORSEMENTS)
            signature = session.internal_authenticate(_nonce_bytes(nonce))
        try:
            presented = present(record, wanted)
        except RecordError as exc:
            raise RequestInvalid(f"cannot present this card's record: {exc}") from None
        return Presentation(presented, endorsements, nonce, signature)

    # -- parts -----------------------------------------------------------------------------

    def _relying(self, now: dt.datetime) -> Verifier:
        """One verifier for relying parties (it caches validated signers).  The register's
        revocation status is checked by :meth:`_facts_check`, on the same look-up as
        the rest of the register's checks (one read per verification)."""
        if self._relying_verifier is None:
            trust = self._trust if self._trust is not None else self.issuer_trust(now)
            self._relying_verifier = Verifier(trust)
        return self._relying_verifier

    def issuer_trust(self, now: dt.datetime) -> Any:
        """The trust list relying parties are verified against (the issuer's)."""
        if self._issuer_source is not None:
            return self.issuer(now).trust
        return self.trust_list()

    @staticmethod
    def _facts_check(
        result: VerificationResult, view: PermitFacts | None, now: dt.datetime
    ) -> VerificationResult:
        """The register must hold this permit as issued, with this record's MSO (a
        presentation keeps the issuerAuth, so the MSO digest is the issued record's), and
        not revoked at ``now`` (from the revocation's effective time); ``view``: the
        register's facts of the permit the record names."""
        extra: list[Reason] = []
        if (
            view is None
            or view.issued_at is None
            or view.state not in (PermitState.ISSUED, PermitState.REVOKED)
        ):
            extra.append(
                Reason(
                    "register_not_issued",
                    Verdict.REVOKED,
                    "the register holds no issued permit with this number",
                )
            )
        elif view.mso_digest != result.mso_digest:
            extra.append(
                Reason(
                    "register_record_mismatch",
                    Verdict.FORGED,
                    "the register holds another record for this permit",
                )
            )
        elif (
            view.state is PermitState.REVOKED
            and view.revocation_effective_at is not None
            and now >= view.revocation_effective_at
        ):
            extra.append(Reason("permit_revoked", Verdict.REVOKED, "the permit is revoked"))
        if not extra:
            return result
        reasons = (*result.reasons, *extra)
        verdict = decide(reasons)
        elements = result.elements if verdict is not Verdict.FORGED else {}
        return dataclasses.replace(result, verdict=verdict, reasons=reasons, elements=elements)

    @staticmethod
    def _scoped(
        result: VerificationResult, allowed: frozenset[str], outcome: ChallengeOutcome
    ) -> RelyingVerification:
        elements = {k: v for k, v in result.elements.items() if k in allowed}
        years = result.years_of_residence if "residence_began" in allowed else None
        return RelyingVerification(result.verdict.value, result.reasons, outcome, elements, years)
