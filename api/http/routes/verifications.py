"""The counter: verify the card in a reader (record, a fresh card challenge, the register)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..deps import Counter, actor_of, call, services_of
from ..models import Verification
from ..openapi import authenticated
from .common import ReaderName, ReadersHere

__all__ = ["router"]

router = APIRouter(prefix="/v1/readers", tags=["counters"])


@router.post(
    "/{reader}/verification",
    response_model=Verification,
    summary="Verify the card in a reader fully, for a counter clerk",
    description="The verdict and its reasons; when VALID, what the clerk looks at (name, "
    "portrait, permit number, validity, next endorsement due, years of residence), taken "
    "from the verified record only. A failing card is a 200 with its verdict; the outcome "
    "goes to the audit log.",
    responses=authenticated(404, 409, 503),
)
async def verify(
    client: Counter, _readers: ReadersHere, request: Request, reader: ReaderName
) -> Verification:
    services = services_of(request)
    check = await call(
        services,
        services.office.verify_card,
        reader,
        services.now(),
        audit_actor=actor_of(client),
    )
    return Verification.of(check)
