"""The station's readers: list them; issue onto, or endorse, the card in one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from ..deps import Counter, Officer, call, services_of
from ..models import Endorsed, Reader
from ..openapi import authenticated
from ..problems import request_id_of
from ..sse import SSE_EVENT_SCHEMA, SSE_MEDIA_TYPE, issuance_slots, issuance_stream
from .common import APPLICATION_BODY, ApplicationBody, ReaderName, ReadersHere, application_for_card

__all__ = ["ISSUANCE_STREAM", "router"]

router = APIRouter(prefix="/v1/readers", tags=["readers"])

_EXAMPLE_STREAM = (
    'event: progress\ndata: {"step":"reserve","status":"started","index":1,"total":9,'
    '"permit_number":null,"detail":""}\n\n'
    "...\n\n"
    'event: result\ndata: {"permit_number":"3301062026000001X","card_serial":"0102030405060708",'
    '"resumed":false,"replaced_permit":null,"pin_letter":{"pin":"123456","puk":"12345678"}}\n\n'
)

#: The documented 200 of an issuance stream (SSE; the event payloads' schemas named).
ISSUANCE_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `progress` (a Progress document) per step, then "
        "one `result` (an Issued document, with the PIN letter) or `error` (a Problem).",
        "content": {
            SSE_MEDIA_TYPE: {
                "schema": SSE_EVENT_SCHEMA,
                "example": _EXAMPLE_STREAM,
                "x-events": {
                    "progress": {"$ref": "#/components/schemas/Progress"},
                    "result": {"$ref": "#/components/schemas/Issued"},
                    "error": {"$ref": "#/components/schemas/Problem"},
                },
            }
        },
    }
}


@router.get(
    "",
    response_model=list[Reader],
    summary="The station's readers and whether each holds a card",
    responses=authenticated(503),
)
async def list_readers(client: Counter, request: Request) -> list[Reader]:
    services = services_of(request)
    return [Reader.of(r) for r in await call(services, services.office.readers)]


@router.post(
    "/{reader}/issuance",
    response_class=StreamingResponse,
    summary="Issue a permit onto the blank card in a reader, with live progress",
    description="Submits the application (or, with `application_id`, retries an approved "
    "one) and issues the permit. The reader and the application are checked before the "
    "stream starts (a problem response); a failure during issuance is the stream's `error` "
    "event. The final `result` carries the holder's PIN letter (PIN and PUK), once: the "
    "service never logs or stores it (docs/http-api.md). A client holds at most a few "
    "issuance streams at once (429 `too_many_streams` with `Retry-After` beyond).",
    responses={**ISSUANCE_STREAM, **authenticated(404, 409, 503)},
    openapi_extra=APPLICATION_BODY,
)
async def issue(
    client: Officer,
    _readers: ReadersHere,
    request: Request,
    reader: ReaderName,
    body: ApplicationBody,
    application_id: Annotated[
        int | None, Query(ge=1, description="retry this approved application")
    ] = None,
) -> StreamingResponse:
    services = services_of(request)
    office = services.office

    application = await application_for_card(services, body, reader)
    return issuance_stream(
        services,
        lambda: office.issue(application, reader, services.now(), application_id=application_id),
        request_id=request_id_of(request),
        slots=issuance_slots(request),
        client_id=client.client_id,
    )


@router.post(
    "/{reader}/endorsement",
    response_model=Endorsed,
    summary="Endorse the permit on the card in a reader (inside its window)",
    responses=authenticated(404, 409, 503),
)
async def endorse(
    client: Officer, _readers: ReadersHere, request: Request, reader: ReaderName
) -> Endorsed:
    services = services_of(request)
    return Endorsed.of(await call(services, services.office.endorse, reader, services.now()))
