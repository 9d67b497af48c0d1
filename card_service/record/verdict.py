"""Verdicts, reasons and the verification result.

Precedence when several problems are found (the first one present wins; every reason is
still reported)::

    MALFORMED > FORGED > CLONED > SIGNER_REVOKED > REVOKED > EXPIRED > NOT_YET_VALID
              > SUSPENDED > STATUS_UNKNOWN > VALID

Rationale: when the bytes cannot be read nothing else is known; a forgery makes every other
statement in the record worthless; a clone (the chip is not the one the issuer bound the
record to) is a fraud even with a genuine record; a revoked signer discredits the record
before the permit's own revocation; the rest are states of a genuine permit.  STATUS_UNKNOWN
(a verifier told to consult a status list could not get a statement from it: no list, an
expired one, a bad signature, an index beyond it, another list's URI) is never VALID and never
REVOKED: everything else checked out, the revocation status is not known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .schedule import EndorsementStatus

__all__ = ["PRECEDENCE", "Reason", "Verdict", "VerificationResult", "decide"]


class Verdict(StrEnum):
    VALID = "VALID"
    SUSPENDED = "SUSPENDED"
    STATUS_UNKNOWN = "STATUS_UNKNOWN"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    REVOKED = "REVOKED"
    SIGNER_REVOKED = "SIGNER_REVOKED"
    FORGED = "FORGED"
    CLONED = "CLONED"
    MALFORMED = "MALFORMED"


#: Most severe first.
PRECEDENCE: tuple[Verdict, ...] = (
    Verdict.MALFORMED,
    Verdict.FORGED,
    Verdict.CLONED,
    Verdict.SIGNER_REVOKED,
    Verdict.REVOKED,
    Verdict.EXPIRED,
    Verdict.NOT_YET_VALID,
    Verdict.SUSPENDED,
    Verdict.STATUS_UNKNOWN,
    Verdict.VALID,
)
_RANK = {v: i for i, v in enumerate(PRECEDENCE)}


@dataclass(frozen=True)
class Reason:
    """One finding: a stable ``code``, the verdict it implies and a message without values."""

    code: str
    verdict: Verdict
    message: str
    #: The element identifier concerned, if any (never its value).
    element: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "verdict": self.verdict.value,
            "message": self.message,
        }
        if self.element is not None:
            out["element"] = self.element
        return out


def decide(reasons: Iterable[Reason]) -> Verdict:
    """The most severe verdict among ``reasons`` (VALID if there are none)."""
    return min((r.verdict for r in reasons), key=_RANK.__getitem__, default=Verdict.VALID)


@dataclass(frozen=True, repr=False)
class VerificationResult:
    """What the verifier found.

    ``elements`` holds the disclosed values whose digests match the signed MSO; it is empty
    when the verdict is FORGED or MALFORMED (nothing unauthenticated is handed out).  Always
    check ``verdict`` before using a value.
    """

    verdict: Verdict
    reasons: tuple[Reason, ...]
    elements: Mapping[str, Any] = field(default_factory=dict)
    doc_type: str | None = None
    signer: str | None = None
    signed_at: dt.datetime | None = None
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    card_authenticated: bool = False
    endorsements_verified: int = 0
    endorsement: EndorsementStatus | None = None
    years_of_residence: int | None = None
    #: The record's status reference (format 2), when the MSO carries one.
    status_index: int | None = None
    status_uri: str | None = None
    #: 1 or 2 (the MSO version), once the MSO parsed.
    record_format: int | None = None
    #: SHA-256 (hex) of the record's MobileSecurityObjectBytes, once the MSO parsed: what the
    #: register holds for the record it issued (the verifier has hashed it already).
    mso_digest: str | None = None
    #: The element identifiers the record carries (every namespace, whether or not in the
    #: issuer's encoding), once its items parsed: what a disclosure scope is checked on.
    carried: frozenset[str] | None = None

    @property
    def valid(self) -> bool:
        return self.verdict is Verdict.VALID

    def __repr__(self) -> str:  # no element values
        codes = ",".join(r.code for r in self.reasons)
        return f"VerificationResult({self.verdict.value}, reasons=[{codes}])"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary.  Element *identifiers* only: values stay with the caller."""

        def iso(value: dt.datetime | dt.date | None) -> str | None:
            return None if value is None else value.isoformat()

        status = self.endorsement
        return {
            "verdict": self.verdict.value,
            "reasons": [r.to_json() for r in self.reasons],
            "doc_type": self.doc_type,
            "signer": self.signer,
            "signed_at": iso(self.signed_at),
            "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until),
            "disclosed_elements": sorted(self.elements),
            "card_authenticated": self.card_authenticated,
            "endorsements_verified": self.endorsements_verified,
            "suspended": None if status is None else status.suspended,
            "next_endorsement_due": None if status is None else iso(status.next_due),
            "years_of_residence": self.years_of_residence,
            "record_format": self.record_format,
        }
