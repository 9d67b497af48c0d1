"""Response (and small request) models of the HTTP API: JSON views of the office's results.

Conversions from domain results live here, next to the models, so routes stay one call.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from card_service.office import (
    ApplicationDecision,
    CardVerification,
    ClerkView,
    PermitHistory,
    PermitView,
    ReaderStatus,
    clerk_view,
    counter_verdict,
)

__all__ = [
    "Decision",
    "Endorsed",
    "Health",
    "Issued",
    "Permit",
    "Progress",
    "Reader",
    "Readiness",
    "RevocationRequest",
    "Revoked",
    "Verification",
]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class CheckModel(BaseModel):
    #: ``degraded``: working with less (rate limits per process while Redis is away).
    status: Literal["ok", "degraded", "failed", "not_configured"]
    code: str | None = None


class Readiness(BaseModel):
    ready: bool
    database: CheckModel
    keys: CheckModel
    readers: CheckModel
    reader_count: int
    #: The shared store (nonces, rate limits) when the office has one.
    shared_state: CheckModel | None = None
    #: Where rate limits are counted: ``ok`` (the shared store's backend as code) or
    #: ``degraded`` (``rate_limits_per_process``: the shared store does not answer).
    rate_limits: CheckModel | None = None


class Decision(BaseModel):
    """The register's eligibility decision on an application (recorded either way)."""

    application_id: int = Field(examples=[17])
    approved: bool
    reasons: list[str] = Field(description="stable refusal codes (empty when approved)")

    @classmethod
    def of(cls, decision: ApplicationDecision) -> Decision:
        return cls(
            application_id=decision.application_id,
            approved=decision.approved,
            reasons=list(decision.reasons),
        )


class Reader(BaseModel):
    name: str = Field(examples=["Permit Sim Reader 0"])
    card_present: bool
    atr: str | None = Field(default=None, description="the card's ATR, hex")

    @classmethod
    def of(cls, status: ReaderStatus) -> Reader:
        data = status.to_json()
        return cls(name=data["reader"], card_present=data["card_present"], atr=data["atr"])


class Progress(BaseModel):
    """One step of an issuance (the steps ``permit issue`` prints)."""

    step: str = Field(examples=["write"])
    status: Literal["started", "done", "failed"]
    index: int
    total: int
    permit_number: str | None = None
    detail: str = ""


class PinLetter(BaseModel):
    """The card's initial PIN and PUK, for the holder's PIN letter: sent once, to the
    officer who issued, and never logged or stored by the service."""

    pin: str
    puk: str


class Issued(BaseModel):
    """The ``result`` event of an issuance stream."""

    permit_number: str = Field(examples=["3301062026000001X"])
    card_serial: str
    resumed: bool = False
    replaced_permit: str | None = None
    #: ``None`` when the issuance was already complete, or when ``pin_letter_lost``.
    pin_letter: PinLetter | None = None
    #: The card was found locked with its lock unconfirmed: its PIN letter was never shown
    #: and a locked card's PIN cannot be reset; replace the card for the PIN functions.
    pin_letter_lost: bool = False

    @classmethod
    def of(cls, result: Any, *, replaced: str | None = None) -> Issued:
        letter = None
        if result.pin is not None and result.puk is not None:
            letter = PinLetter(pin=result.pin, puk=result.puk)
        return cls(
            permit_number=result.permit_number,
            card_serial=result.card_serial,
            resumed=bool(result.resumed),
            replaced_permit=replaced,
            pin_letter=letter,
            pin_letter_lost=bool(getattr(result, "pin_letter_lost", False)),
        )


class Endorsed(BaseModel):
    permit_number: str
    sequence: int
    late: bool

    @classmethod
    def of(cls, result: Any) -> Endorsed:
        return cls(permit_number=result.permit_number, sequence=result.sequence, late=result.late)


class RevocationRequest(BaseModel):
    reason: Literal["lost", "stolen", "cancelled"]
    #: From when the permit is revoked (default: now); time zone required.
    effective_at: dt.datetime | None = None

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"reason": "lost"},
                {"reason": "stolen", "effective_at": "2026-11-01T08:00:00Z"},
            ]
        },
    }


class Revoked(BaseModel):
    permit_number: str
    state: str
    reason: str | None
    effective_at: dt.datetime | None

    @classmethod
    def of(cls, view: PermitView) -> Revoked:
        return cls(
            permit_number=view.number,
            state=view.state.value,
            reason=view.revocation_reason,
            effective_at=view.revocation_effective_at,
        )


class EndorsementEntry(BaseModel):
    endorsed_on: dt.date
    period_start: dt.date
    period_end: dt.date
    late: bool


class Permit(BaseModel):
    """A permit with its history (no personal data: number and card serial only)."""

    number: str
    state: str
    effective_state: str
    card_serial: str
    issue_date: dt.date
    years_of_residence: int
    residence_counted_from: dt.date
    covered_until: dt.date
    next_due: dt.date
    window_opens: dt.date
    replaces_permit: str | None
    revocation_reason: str | None
    endorsements: list[EndorsementEntry]

    @classmethod
    def of(cls, history: PermitHistory) -> Permit:
        entries = [
            EndorsementEntry(
                endorsed_on=e.endorsed_on,
                period_start=e.period_start,
                period_end=e.period_end,
                late=e.late,
            )
            for e in history.endorsements
        ]
        return cls.model_validate({**history.to_json(), "endorsements": entries})


class Clerk(BaseModel):
    """What the clerk looks at: from the verified record only (personal data)."""

    full_name: str
    portrait: str = Field(description="the portrait as a data URL (image/jpeg, base64)")
    permit_number: str
    valid_from: dt.date
    valid_until: dt.date
    next_endorsement_due: dt.date | None
    years_of_residence: int | None
    suspended: bool

    @classmethod
    def of(cls, view: ClerkView) -> Clerk:
        portrait = "data:image/jpeg;base64," + base64.b64encode(view.portrait).decode("ascii")
        return cls(
            full_name=view.full_name,
            portrait=portrait,
            permit_number=view.permit_number,
            valid_from=view.valid_from,
            valid_until=view.valid_until,
            next_endorsement_due=view.next_endorsement_due,
            years_of_residence=view.years_of_residence,
            suspended=view.suspended,
        )


class Verification(BaseModel):
    """A counter verification: the verdict, why, and (only when VALID) the clerk's view."""

    verdict: str = Field(
        examples=["VALID"], description="VALID, REVOKED, a record verdict or INVALID"
    )
    passed: bool
    reasons: list[str] = Field(description="short codes of what failed (empty when VALID)")
    record_reasons: list[str] = Field(description="the record verifier's reason codes")
    card_condition: str
    card_serial: str | None
    permit_number: str | None
    register_state: str | None
    clerk: Clerk | None = Field(description="present only when the verdict is VALID")

    @classmethod
    def of(cls, check: CardVerification) -> Verification:
        view = clerk_view(check)
        record = check.result
        return cls(
            verdict=counter_verdict(check),
            passed=check.passed,
            reasons=list(check.problems),
            record_reasons=[] if record is None else [r.code for r in record.reasons],
            card_condition=check.card.condition.value,
            card_serial=check.card.serial_text,
            permit_number=check.permit_number,
            register_state=check.register_state,
            clerk=None if view is None else Clerk.of(view),
        )
