"""What several route modules share: path parameters, the application body, "no readers"."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from permit_errors import ErrorKind, PermitError

from ..deps import Services, call, services_of

__all__ = [
    "APPLICATION_BODY",
    "ApplicationBody",
    "NoReaders",
    "PermitNumber",
    "ReaderName",
    "ReadersHere",
    "application_bytes",
    "application_for_card",
]

log = logging.getLogger(__name__)

PermitNumber = Annotated[str, Path(pattern=r"^[0-9A-Za-z-]{1,64}$", examples=["3301062026000001X"])]
ReaderName = Annotated[
    str,
    Path(
        pattern=r"^[^\x00-\x1f\x7f]{1,128}$",
        description="the reader's name (URL-encoded)",
        examples=["Permit Sim Reader 0"],
    ),
]


class NoReaders(PermitError):
    """This instance has no card readers (a central instance): card routes are offered only
    by stations with readers attached."""

    code = "no_readers"
    kind = ErrorKind.UNAVAILABLE


async def _readers_here(request: Request) -> None:
    """Refuse a card route with 503 ``no_readers`` where the office lists no reader (or its
    reader transport is not there at all)."""
    services: Services = services_of(request)
    try:
        found = await call(services, services.office.readers)
    except PermitError as exc:
        if exc.kind not in (ErrorKind.UNAVAILABLE, ErrorKind.CONFIG):
            raise
        log.info("no readers: %s (%s)", exc.code, exc.kind)
        raise NoReaders("this instance has no card readers") from None
    if not found:
        raise NoReaders("this instance has no card readers")


#: Depend on it after the role guard: a card route answers 503 ``no_readers`` without readers.
ReadersHere = Annotated[None, Depends(_readers_here)]

_EXAMPLE_APPLICATION: dict[str, Any] = {
    "format": "permit-application/1",
    "applicant": {
        "full_name": "样例申请人",
        "sex": "female",
        "ethnicity": "汉族",
        "birth_date": "1980-03-13",
        "citizen_id": "110101198003130745",
        "household_address": "北京市东城区示例胡同1号",
        "portrait_jpeg_base64": "/9j/4AAQSkZJRg...",
    },
    "application": {
        "residence_address": "上海市浦东新区示例路100弄2号301室",
        "residence_began": "2021-03-18",
        "basis": "employment",
        "evidence_ref": "EV-7",
    },
    "issuing_authority": "上海市公安局浦东分局",
}

#: ``openapi_extra`` of a route whose body is an application document (the format
#: ``permit issue`` reads, docs/examples/application.json): parsed by the office, which
#: names the failing field (422 ``application_invalid``), never its value.
APPLICATION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["format", "applicant", "application"],
                    "properties": {
                        "format": {"type": "string", "enum": ["permit-application/1"]},
                        "applicant": {"type": "object"},
                        "application": {"type": "object"},
                        "issuing_authority": {"type": "string"},
                    },
                },
                "example": _EXAMPLE_APPLICATION,
            }
        },
    }
}


async def application_bytes(request: Request) -> bytes:
    """The raw body (already bounded by the body-limit middleware)."""
    return await request.body()


ApplicationBody = Annotated[bytes, Depends(application_bytes)]


async def application_for_card(services: Services, body: bytes, reader: str) -> Any:
    """The application in ``body``, parsed, and a card present in ``reader``: what an
    issuance or a replacement checks before its stream starts (so a refusal is a problem
    response, not an event)."""
    office = services.office

    def prepare() -> Any:
        application = office.parse_application(body)
        office.require_card(reader)
        return application

    return await call(services, prepare)
