"""Request and response models of the relying-party routes (docs/http-api.md, "Relying
parties"): challenges, presentations and their verdicts, a permit's status.

Byte fields travel as unpadded base64url text (RFC 4648 section 5); element values as JSON
(dates ``YYYY-MM-DD``, the portrait base64url, the sex code an integer).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from card_service.office import (
    PRESENTATION_FORMAT,
    Challenge,
    PermitStatus,
    RelyingVerification,
)

__all__ = [
    "ChallengeIssued",
    "PresentationBody",
    "PresentationVerdict",
    "ReasonModel",
    "StatusAnswer",
    "element_json",
]

_B64URL = r"^[A-Za-z0-9_-]*$"
#: What the document says of a byte field (the format names the text's alphabet).
_BYTES: JsonDict = {"format": "base64url", "contentEncoding": "base64url"}


class ChallengeIssued(BaseModel):
    """A single-use nonce bound to the calling client; the card signs its 32 bytes."""

    nonce: str = Field(
        description="43 characters of unpadded base64url (32 random bytes)",
        examples=["q9oN0kLzv2bH1mJ0aXwq6cR3tYy8uPp4Vn7sWm2dE1A"],
    )
    expires_at: dt.datetime = Field(description="spend it before then (UTC)")
    ttl_seconds: float = Field(examples=[120.0])

    @classmethod
    def of(cls, challenge: Challenge) -> ChallengeIssued:
        return cls(
            nonce=challenge.nonce,
            expires_at=challenge.expires_at,
            ttl_seconds=challenge.ttl_seconds,
        )


class PresentationBody(BaseModel):
    """What a terminal posts (``permit present`` builds it): a selective presentation of
    the card's record, its endorsements, the nonce and the card's answer over it."""

    format: Literal["permit-presentation/1"] = Field(examples=[PRESENTATION_FORMAT])
    nonce: str = Field(min_length=1, max_length=64, pattern=_B64URL)
    record: str = Field(
        min_length=1,
        max_length=43_692,
        pattern=_B64URL,
        description="the presentation: CBOR IssuerSigned with only the disclosed items",
        json_schema_extra={
            "format": "base64url-cbor",
            "contentEncoding": "base64url",
            "contentMediaType": "application/cbor",
        },
    )
    endorsements: str = Field(
        default="",
        max_length=10_924,
        pattern=_B64URL,
        description="EF.Endorsements as read from the card (a CBOR sequence)",
        json_schema_extra=_BYTES,
    )
    card_signature: str = Field(
        min_length=1,
        max_length=88,
        pattern=_B64URL,
        description="the card's INTERNAL AUTHENTICATE answer (r||s, 64 bytes) over "
        "the domain 'PERMIT-CARD-AUTH-v1' || the nonce's 32 bytes",
        json_schema_extra=_BYTES,
    )


class ReasonModel(BaseModel):
    code: str = Field(examples=["challenge_replayed"])
    verdict: str = Field(examples=["CLONED"])
    message: str
    element: str | None = None


def element_json(value: Any) -> Any:
    """An element value as JSON: dates as ISO text, bytes as unpadded base64url."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


class PresentationVerdict(BaseModel):
    """The verdict, its reasons, what spending the nonce found, and only the elements in
    the client's disclosure scope (with the mandatory ones) when the record is authentic."""

    verdict: str = Field(
        description="VALID, or the record's verdict (SUSPENDED, EXPIRED, REVOKED, FORGED, "
        "CLONED, ...), or INVALID when the nonce could not be spent",
        examples=["VALID"],
    )
    reasons: list[ReasonModel]
    challenge: Literal["consumed", "unknown", "expired", "replayed", "other_client"]
    elements: dict[str, Any] = Field(
        examples=[{"permit_number": "330106202600000123", "residence_began": "2021-03-18"}]
    )
    years_of_residence: int | None = Field(
        default=None, description="only when residence_began is in the client's scope"
    )

    @classmethod
    def of(cls, answer: RelyingVerification) -> PresentationVerdict:
        return cls(
            verdict=answer.verdict,
            reasons=[ReasonModel(**r.to_json()) for r in answer.reasons],
            challenge=answer.challenge.value,
            elements={k: element_json(v) for k, v in sorted(answer.elements.items())},
            years_of_residence=answer.years_of_residence,
        )


class StatusAnswer(BaseModel):
    """A permit's status and nothing more."""

    status: Literal["valid", "suspended", "revoked"]

    @classmethod
    def of(cls, status: PermitStatus) -> StatusAnswer:
        return cls(status=status.value)
