"""``POST /v1/applications``: record an application and answer the eligibility decision."""

from __future__ import annotations

from fastapi import APIRouter, Request

from card_service.office import ApplicationDecision

from ..deps import Officer, actor_of, call, services_of
from ..models import Decision
from ..openapi import authenticated
from .common import APPLICATION_BODY, ApplicationBody

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["officers"])


@router.post(
    "/applications",
    status_code=201,
    response_model=Decision,
    summary="Submit an application; the register decides its eligibility",
    description="The body is an application document (the format `permit issue` reads). "
    "The application is recorded either way; a refused one has `approved: false` and its "
    "reasons. Issue onto a card with `POST /v1/readers/{reader}/issuance?application_id=`.",
    responses=authenticated(503),
    openapi_extra=APPLICATION_BODY,
)
async def submit_application(client: Officer, request: Request, body: ApplicationBody) -> Decision:
    services = services_of(request)
    office = services.office

    def submit() -> ApplicationDecision:
        return office.submit_application(
            office.parse_application(body), services.now(), actor=actor_of(client)
        )

    return Decision.of(await call(services, submit))
