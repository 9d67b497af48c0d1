"""Permits by number: look one up with its history, revoke it, replace it onto a new card."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from ..deps import Officer, actor_of, call, services_of
from ..models import Permit, RevocationRequest, Revoked
from ..openapi import authenticated
from ..problems import request_id_of
from ..sse import issuance_slots, issuance_stream
from .common import (
    APPLICATION_BODY,
    ApplicationBody,
    PermitNumber,
    ReadersHere,
    application_for_card,
)
from .readers import ISSUANCE_STREAM

__all__ = ["router"]

router = APIRouter(prefix="/v1/permits", tags=["officers"])


@router.get(
    "/{number}",
    response_model=Permit,
    summary="A permit with its state, schedule and endorsement history",
    responses=authenticated(404, 503),
)
async def permit(client: Officer, request: Request, number: PermitNumber) -> Permit:
    services = services_of(request)
    office = services.office
    return Permit.of(await call(services, office.permit_history, number, services.now()))


@router.post(
    "/{number}/revocation",
    response_model=Revoked,
    summary="Revoke a permit (lost, stolen, cancelled)",
    responses=authenticated(404, 409, 503),
)
async def revoke(
    client: Officer, request: Request, number: PermitNumber, revocation: RevocationRequest
) -> Revoked:
    services = services_of(request)
    view = await call(
        services,
        services.office.revoke,
        number,
        revocation.reason,
        services.now(),
        effective_at=revocation.effective_at,
        actor=actor_of(client),
    )
    return Revoked.of(view)


@router.post(
    "/{number}/replacement",
    response_class=StreamingResponse,
    summary="Replace a permit: revoke it and issue its holder a new one, with live progress",
    description="The body is the holder's application document; the stream is that of an "
    "issuance (`progress` events, then `result` with the new permit and its PIN letter), "
    "and counts against the same per-client cap of open issuance streams (429 "
    "`too_many_streams`).",
    responses={**ISSUANCE_STREAM, **authenticated(404, 409, 503)},
    openapi_extra=APPLICATION_BODY,
)
async def replace(
    client: Officer,
    _readers: ReadersHere,
    request: Request,
    number: PermitNumber,
    body: ApplicationBody,
    reader: Annotated[str, Query(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")],
    reason: Annotated[Literal["lost", "stolen", "damaged"], Query()],
) -> StreamingResponse:
    services = services_of(request)
    office = services.office

    application = await application_for_card(services, body, reader)
    return issuance_stream(
        services,
        lambda: office.replace(number, reason, application, reader, services.now()),
        request_id=request_id_of(request),
        slots=issuance_slots(request),
        client_id=client.client_id,
        replaced=number,
    )
