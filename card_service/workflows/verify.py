"""Full verification of the card in a reader (``permit verify``): what a relying party does.

A card *passes verification* when all of these hold:

1. its life cycle is ISSUED (locked) - a half-personalised card never passes;
2. EF.Record verifies with the trust list (signer chain, CRL, digests, validity) and the
   card answers a fresh INTERNAL AUTHENTICATE with the key in deviceKeyInfo;
3. when a register is available: the permit number in the record is ISSUED there (or was
   revoked only from a later effective time), bound to this card serial, with this
   record's digests.  A revoked permit is reported REVOKED by the verifier.

A register that cannot be read (its database down or restarting) gives no verdict at all:
:class:`RevocationUnknown` (kind UNAVAILABLE, HTTP 503), never REVOKED for a permit that may
well be valid, never VALID.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from card_service.card.access import CardAccess
from card_service.card.errors import CardError
from card_service.record import RevocationEntry, Verdict, VerificationResult, Verifier
from card_service.register.errors import NotFound
from card_service.register.models import PermitState
from card_service.register.service import Register
from permit_errors import ErrorKind, PermitError
from reader_drivers.errors import ReaderError

from .card_state import CardCondition, CardStatus, classify_card
from .cardops import digests_of, read_and_verify, record_values
from .progress import utc

__all__ = [
    "REVOCATION_UNKNOWN",
    "CardVerification",
    "ClerkView",
    "RevocationUnknown",
    "clerk_view",
    "counter_verdict",
    "register_revocation",
    "require_revocation_status",
    "verify_card",
]

#: The verifier's reason when its revocation source failed (``card_service.record.verifier``
#: fails closed on it, as REVOKED).
REVOCATION_UNKNOWN = "revocation_status_unavailable"


class RevocationUnknown(PermitError):
    """The register did not answer whether the permit is revoked (its database failed during
    the verification): no verdict, try again."""

    code = "register_unavailable"
    kind = ErrorKind.UNAVAILABLE


def require_revocation_status(result: VerificationResult) -> None:
    """:class:`RevocationUnknown` if the register-backed revocation check of ``result``
    failed: an outage of the register is not the permit's revocation."""
    if any(reason.code == REVOCATION_UNKNOWN for reason in result.reasons):
        raise RevocationUnknown(
            "the register did not answer whether the permit is revoked: try again"
        )


@dataclass(frozen=True)
class CardVerification:
    passed: bool
    card: CardStatus
    #: Short codes of what failed (empty when ``passed``).
    problems: tuple[str, ...]
    result: VerificationResult | None = None
    permit_number: str | None = None
    register_state: str | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "card_serial": self.card.serial_text,
            "card_condition": self.card.condition.value,
            "permit_number": self.permit_number,
            "register_state": self.register_state,
            "problems": list(self.problems),
            "record": None if self.result is None else self.result.to_json(),
        }


@dataclass(frozen=True)
class ClerkView:
    """What a counter clerk looks at on a card that passed verification: taken only from the
    verified record (element values whose digests match the signed MSO) and the verifier's
    schedule.  Personal data: shown to the clerk, never logged (``repr`` redacts it)."""

    full_name: str
    #: The JPEG portrait as stored in the record.
    portrait: bytes
    permit_number: str
    valid_from: dt.date
    valid_until: dt.date
    #: ``None`` when the record carries no endorsement schedule.
    next_endorsement_due: dt.date | None
    years_of_residence: int | None
    suspended: bool

    def __repr__(self) -> str:
        return f"ClerkView(permit_number={self.permit_number!r}, <redacted>)"


def clerk_view(check: CardVerification) -> ClerkView | None:
    """The clerk's fields of ``check``, or ``None`` unless it passed with a VALID record:
    nothing unverified (a forged, revoked or half-issued card) is ever put before a clerk."""
    result = check.result
    if not check.passed or result is None or result.verdict is not Verdict.VALID:
        return None
    values = result.elements
    name, portrait, number = (
        values.get("full_name"),
        values.get("portrait"),
        values.get("permit_number"),
    )
    issued, expiry = values.get("issue_date"), values.get("expiry_date")
    if not (
        isinstance(name, str)
        and isinstance(portrait, bytes)
        and isinstance(number, str)
        and isinstance(issued, dt.date)
        and isinstance(expiry, dt.date)
    ):
        return None  # a VALID record always has them; never hand out a partial view
    status = result.endorsement
    return ClerkView(
        full_name=name,
        portrait=portrait,
        permit_number=number,
        valid_from=_day(issued),
        valid_until=_day(expiry),
        next_endorsement_due=None if status is None else status.next_due,
        years_of_residence=result.years_of_residence,
        suspended=False if status is None else status.suspended,
    )


def _day(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def counter_verdict(check: CardVerification) -> str:
    """One word for the counter: ``VALID`` when the card passed; ``REVOKED`` when the
    register or the record says so; else the record's verdict when it is not VALID; else
    ``INVALID`` (the card or the register check failed: see ``problems``)."""
    if check.passed:
        return Verdict.VALID.value
    if "register_revoked" in check.problems:
        return Verdict.REVOKED.value
    if check.result is not None and check.result.verdict is not Verdict.VALID:
        return check.result.verdict.value
    return "INVALID"


def register_revocation(register: Register) -> Any:
    """A :data:`RevocationStatus` backed by the register."""

    def status(number: str, now: dt.datetime) -> RevocationEntry | None:
        try:
            view = register.permit(number)
        except NotFound:
            return None
        if view.state is PermitState.REVOKED and view.revocation_effective_at is not None:
            if now >= view.revocation_effective_at:
                return RevocationEntry(view.revocation_effective_at, view.revocation_reason or "")
        return None

    return status


def verify_card(
    cards: CardAccess,
    reader: str,
    verifier: Verifier,
    now: dt.datetime,
    *,
    register: Register | None = None,
    audit_actor: str | None = None,
) -> CardVerification:
    """Verify the card in ``reader``; with ``register``, check it against the register too.

    ``audit_actor``: append the outcome (``passed`` or ``failed:<codes>``, never personal
    data) to the audit log as ``permit.verify`` by that actor - done for every verification
    made for a relying party or at a counter, also one that ends without a verdict (a card
    pulled mid-way: ``failed:card_removed``, then the error is raised).
    """
    now = utc(now)
    try:
        # shared: a relying party's read may interleave with other readers of the card
        with cards.session(reader, exclusive=False) as session:
            status = classify_card(session)
            if status.condition is not CardCondition.ISSUED:
                early = CardVerification(False, status, (f"card_{status.condition.value}",))
                if register is not None and audit_actor is not None:
                    _audit(register, early, audit_actor, now)
                return early
            record, _, result = read_and_verify(session, verifier, now)
    except (ReaderError, CardError) as exc:
        # no verdict (the card was pulled, the reader failed): the attempt is audited too
        if register is not None and audit_actor is not None:
            register.record_verification(None, f"failed:{exc.code}"[:200], audit_actor, now)
        raise
    if register is not None:
        try:
            require_revocation_status(result)
        except RevocationUnknown:
            if audit_actor is not None:
                register.record_verification(None, "failed:register_unavailable", audit_actor, now)
            raise
    problems: list[str] = []
    if result.verdict is not Verdict.VALID:
        problems.append(f"record_{result.verdict.value.lower()}")
    number: str | None = None
    state: str | None = None
    try:
        values = record_values(record)
        raw = values.get("permit_number")
        number = raw if isinstance(raw, str) else None
        if values.get("card_serial") != status.serial_text:
            problems.append("card_serial_mismatch")
    except Exception:  # malformed: the verifier already said so
        problems.append("record_unreadable")
    if register is not None:
        state = _register_check(register, number, status, record, now, problems)
    outcome = CardVerification(not problems, status, tuple(problems), result, number, state)
    if register is not None and audit_actor is not None:
        _audit(register, outcome, audit_actor, now)
    return outcome


def _audit(register: Register, outcome: CardVerification, actor: str, now: dt.datetime) -> None:
    from card_service.audit.chain import is_permit_number

    number = outcome.permit_number
    if number is not None and not is_permit_number(number):
        number = None  # a forged record's "number" is not trusted into the log
    result = "passed" if outcome.passed else "failed:" + ",".join(outcome.problems)
    register.record_verification(number, result[:200], actor, now)


def _register_check(
    register: Register,
    number: str | None,
    status: CardStatus,
    record: bytes,
    now: dt.datetime,
    problems: list[str],
) -> str | None:
    if number is None:
        problems.append("register_unknown")
        return None
    try:
        view = register.permit(number)
    except NotFound:
        problems.append("register_unknown")
        return None
    from card_service.register.service import effective_state

    state = effective_state(view, now)
    if view.state not in (PermitState.ISSUED, PermitState.REVOKED) or view.issued_at is None:
        problems.append("register_not_issued")
    elif state == "REVOKED":
        problems.append("register_revoked")
    if view.card_serial != status.serial_text:
        problems.append("register_card_mismatch")
    try:
        digests = digests_of(record)
    except Exception:
        problems.append("record_unreadable")
        return state
    if (view.record_digest, view.mso_digest) != (digests.record, digests.mso):
        problems.append("register_digest_mismatch")
    return state
