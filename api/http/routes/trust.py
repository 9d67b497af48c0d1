"""The trust list, for verifiers anywhere (public: it is public material): roots, link
certificates, CRLs, document and audit signer certificates and their manifest, as
``permit keys export-trust`` writes them, in one JSON document."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..admin_models import TrustModel
from ..deps import call, services_of
from ..openapi import errors

__all__ = ["MAX_AGE_CAP", "TRUST_PATH", "router"]

router = APIRouter(tags=["trust"])

TRUST_PATH = "/v1/trust"

#: The longest a copy may be cached (seconds), however far the CRL's next update is: a
#: signer revoked today reaches a cache within this (a verifier holding an older copy still
#: sees the revocation in the next CRL before it expires).
MAX_AGE_CAP = 3600


@router.get(
    TRUST_PATH,
    response_model=TrustModel,
    summary="The trust list (public): roots, links, CRLs, signer certificates",
    description="`manifest` is the `manifest.json` of `permit keys export-trust`, `files` the "
    "PEM files it names: write both into a directory and `--trust DIR` reads it. "
    "`Cache-Control: public, max-age` runs until the CRL's next update (at most an hour; 0 "
    "once the CRL is due). Needs no API key.",
    responses=errors(422, 500, 503),
)
async def trust(request: Request) -> JSONResponse:
    services = services_of(request)
    now = services.now()
    document = await call(services, services.office.trust_document, now)
    age = document.max_age(now, MAX_AGE_CAP)
    return JSONResponse(
        TrustModel.of(document).model_dump(mode="json"),
        headers={"Cache-Control": f"public, max-age={age}"},
    )
