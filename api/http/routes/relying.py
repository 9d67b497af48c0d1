"""Relying parties (merchants, banks): a challenge, a presentation's verification within
the client's disclosure scope, a permit's status.  No route lists or searches residents."""

from __future__ import annotations

from fastapi import APIRouter, Request

from card_service.office import Presentation, PresentationRequest

from ..deps import Challenger, RelyingParty, StatusReader, actor_of, batched, call, services_of
from ..openapi import authenticated
from ..relying_models import ChallengeIssued, PresentationBody, PresentationVerdict, StatusAnswer
from .common import PermitNumber

__all__ = ["router"]

router = APIRouter(tags=["relying parties"])


@router.post(
    "/v1/challenges",
    response_model=ChallengeIssued,
    status_code=201,
    summary="A single-use nonce for the card to sign, bound to this client",
    description="Valid for a short time (default 120 s) and for this client only; spend it "
    "with one `POST /v1/verifications`. Rate class `challenges`.",
    responses=authenticated(503),
)
async def challenge(client: Challenger, request: Request) -> ChallengeIssued:
    services = services_of(request)
    issued = await call(services, services.office.issue_challenge, client, services.now())
    return ChallengeIssued.of(issued)


@router.post(
    "/v1/verifications",
    response_model=PresentationVerdict,
    summary="Verify a selective presentation with the card's answer to a challenge",
    description="The nonce is spent first (atomically, in the shared store): an unknown, "
    "expired, replayed or another client's nonce answers `INVALID` with the reason "
    "`challenge_<outcome>` and the record is not looked at. A presentation that carries an "
    "element outside the client's disclosure scope is refused (403 "
    "`presentation_out_of_scope`). Otherwise the verdict, its reasons and only the scoped "
    "elements. Every verification goes to the audit log before the answer; a shared store "
    "that does not answer is 503 (never VALID). A 503 (shared store, register or audit log "
    "unavailable) has already spent the nonce, or may have: the same presentation again "
    "is `INVALID` `challenge_replayed`, so the terminal must ask a new challenge and have "
    "the card answer it.",
    responses=authenticated(503),
)
async def verification(
    client: RelyingParty, request: Request, body: PresentationBody
) -> PresentationVerdict:
    services = services_of(request)
    presentation = Presentation.from_json(body.model_dump())
    verification = PresentationRequest(client, presentation, services.now(), actor_of(client))
    answer = await batched(services, services.verifications, verification)
    return PresentationVerdict.of(answer)


@router.get(
    "/v1/permits/{number}/status",
    response_model=StatusAnswer,
    summary="Whether a permit is valid, suspended or revoked (and nothing more)",
    description="404 for a number never issued. Rate class `status` (the strictest), so "
    "permit numbers cannot be enumerated.",
    responses=authenticated(404, 503),
)
async def status(client: StatusReader, request: Request, number: PermitNumber) -> StatusAnswer:
    services = services_of(request)
    return StatusAnswer.of(
        await call(services, services.office.permit_status, number, services.now())
    )
