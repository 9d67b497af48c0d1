"""The signed revocation status list (public material, like the trust list).

``GET /v1/status-list`` answers the Token Status List in CWT form
(``application/statuslist+cwt``, docs/status-list.md): every permit's status (valid,
invalid, suspended) at its index, signed by the status-list signer under the root.
Verifiers at scale fetch it once per ``ttl`` and check cards offline; it names no person
and no permit number, only indices, so it needs no key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..deps import call, services_of

__all__ = ["MEDIA_TYPE", "PATH", "router"]

PATH = "/v1/status-list"
MEDIA_TYPE = "application/statuslist+cwt"

router = APIRouter(tags=["offline verification"])


@router.get(
    PATH,
    response_class=Response,
    summary="The signed status list of every permit (IETF Token Status List, CWT)",
    responses={
        200: {
            "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "COSE_Sign1 Status List Token; cache it for its `ttl` "
            "(Cache-Control max-age)",
        },
        500: {"description": "configuration error (problem+json)"},
        503: {"description": "register or key store unavailable (problem+json)"},
    },
)
async def status_list(request: Request) -> Response:
    services = services_of(request)
    signed = await call(services, services.office.status_list, services.now())
    return Response(
        signed.token,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": f"public, max-age={signed.ttl}"},
    )
