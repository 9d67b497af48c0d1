"""The audit log, for auditors: read it page by page, run its verification, fetch the
witnessed signed checkpoints (what an external auditor pins and re-verifies)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from card_service.clients import ApiClient, Role
from card_service.office import AUDIT_PAGE_MAX

from ..admin_models import (
    AuditEntryModel,
    AuditPage,
    AuditReportModel,
    CheckpointModel,
    CheckpointPage,
)
from ..deps import call, require, services_of
from ..openapi import authenticated

__all__ = ["Auditor", "router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])

#: An auditor of the register's audit log.
Auditor = Annotated[ApiClient, Depends(require(Role.AUDITOR))]

After = Annotated[int, Query(ge=0, le=10**12, description="the last seq already read")]
Limit = Annotated[int, Query(ge=1, le=AUDIT_PAGE_MAX, description="page size")]


@router.get(
    "/entries",
    response_model=AuditPage,
    summary="Audit entries after a sequence number, in order",
    description="Entries as stored (actor, action, permit number, result, time and the "
    "chain hashes; never a name, ID number, address or portrait). Page on with "
    "`after=next_after` until `next_after` is null.",
    responses=authenticated(503),
)
async def entries(
    auditor: Auditor, request: Request, after: After = 0, limit: Limit = 100
) -> AuditPage:
    services = services_of(request)
    found = await call(services, services.office.audit_entries, after=after, limit=limit)
    return AuditPage(
        entries=[AuditEntryModel.of(e) for e in found],
        next_after=found[-1].seq if len(found) == limit else None,
    )


@router.post(
    "/verification",
    response_model=AuditReportModel,
    summary="Verify the whole audit log (chain, checkpoints, cadence, witness)",
    description="The report of `permit audit verify --json`, with the configured witness "
    "directory and the local trust list. A tampered log is `ok: false` with the first bad "
    "entry, not an error.",
    responses=authenticated(500, 503),
)
async def verification(auditor: Auditor, request: Request) -> AuditReportModel:
    services = services_of(request)
    report = await call(services, services.office.audit_verification, services.now())
    return AuditReportModel.of(report)


@router.get(
    "/checkpoints",
    response_model=CheckpointPage,
    summary="The witnessed signed checkpoints after a sequence number",
    description="Each checkpoint as the witness directory holds it: an audit signer's "
    "signature over (seq, entry hash, time). An external auditor keeps them and checks that "
    "later logs extend every one.",
    responses=authenticated(500, 503),
)
async def checkpoints(
    auditor: Auditor, request: Request, after: After = 0, limit: Limit = 100
) -> CheckpointPage:
    services = services_of(request)
    found = await call(services, services.office.audit_checkpoints, after=after, limit=limit)
    return CheckpointPage(
        checkpoints=[CheckpointModel.of(c) for c in found],
        next_after=found[-1].seq if len(found) == limit else None,
    )
