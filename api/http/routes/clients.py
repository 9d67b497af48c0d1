"""API clients, for administrators: create one (its key shown once), list them, set an
expiry, revoke one.  The audit actor is the calling administrator's client."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from card_service.clients import ApiClient, Role

from ..admin_models import Client, ClientCreated, ClientRequest, ExpiryRequest
from ..deps import actor_of, call, require, services_of
from ..openapi import authenticated

__all__ = ["Admin", "router"]

router = APIRouter(prefix="/v1/clients", tags=["administration"])

#: An administrator of the service's API clients.
Admin = Annotated[ApiClient, Depends(require(Role.ADMIN))]

ClientId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", examples=["pc_3f2a9c0d"])]

#: The key is in this answer only: no cache (a proxy, a browser) may keep it.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post(
    "",
    response_model=ClientCreated,
    status_code=201,
    summary="Create an API client; its key is in this answer only",
    description="The answer is `Cache-Control: no-store`; the key is never logged, stored "
    "(only its hash) or shown again.",
    responses=authenticated(503),
)
async def create_client(admin: Admin, request: Request, body: ClientRequest) -> JSONResponse:
    services = services_of(request)
    created = await call(
        services,
        services.office.create_client,
        body.name,
        body.role,
        services.now(),
        scope=body.scope,
        expires_at=body.expires_at,
        actor=actor_of(admin),
    )
    answer = ClientCreated.of(created).model_dump(mode="json")
    return JSONResponse(answer, status_code=201, headers=NO_STORE)


@router.get(
    "",
    response_model=list[Client],
    summary="Every API client with its status (never a key or a key's hash)",
    responses=authenticated(503),
)
async def list_clients(admin: Admin, request: Request) -> list[Client]:
    services = services_of(request)
    views = await call(services, services.office.list_clients, services.now())
    return [Client.of(v) for v in views]


@router.post(
    "/{client_id}/expiry",
    response_model=Client,
    summary="Set when a client's key stops working (default: now)",
    responses=authenticated(404, 409, 503),
)
async def expire_client(
    admin: Admin, request: Request, client_id: ClientId, body: ExpiryRequest | None = None
) -> Client:
    services = services_of(request)
    view = await call(
        services,
        services.office.expire_client,
        client_id,
        services.now(),
        at=None if body is None else body.at,
        actor=actor_of(admin),
    )
    return Client.of(view)


@router.post(
    "/{client_id}/revocation",
    response_model=Client,
    summary="Revoke a client for good: its key stops working at once",
    responses=authenticated(404, 409, 503),
)
async def revoke_client(admin: Admin, request: Request, client_id: ClientId) -> Client:
    services = services_of(request)
    view = await call(
        services, services.office.revoke_client, client_id, services.now(), actor=actor_of(admin)
    )
    return Client.of(view)
