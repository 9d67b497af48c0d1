"""What the register of API clients hands out: views without keys or hashes, and the one
result that carries a key (:class:`CreatedClient`, shown once)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from card_service.register.models import ApiClientRecord

from . import ApiClient, Role

__all__ = [
    "ClientRow",
    "ClientStatus",
    "ClientView",
    "CreatedClient",
    "client_of",
    "status_at",
    "view_of",
]


class ClientStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, repr=False)
class ClientRow:
    """The columns authentication reads (:func:`~.registry.authenticate`): the row without
    its audit fields.  ``repr`` leaves the key's hash out."""

    client_id: str
    name: str
    role: str
    scope: str
    key_hash: str
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def __repr__(self) -> str:
        return f"ClientRow({self.client_id}, {self.role})"


#: A row as authentication and the views read it.
_Row = ApiClientRecord | ClientRow


def _scope(row: _Row) -> frozenset[str]:
    return frozenset(e for e in row.scope.split(",") if e)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class ClientView:
    """One API client as an administrator sees it: never its key or the key's hash."""

    client_id: str
    name: str
    role: Role
    scope: frozenset[str]
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    #: At the instant the view was taken.
    status: ClientStatus

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "role": self.role.value,
            "scope": sorted(self.scope),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "status": self.status.value,
        }


@dataclass(frozen=True)
class CreatedClient:
    """A new client and its key: the only time the key exists outside the caller's hands.
    ``repr`` leaves the key out (a logged result never carries it)."""

    client: ClientView
    key: str = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """``client_id``, ``role``, ``scope``, ``expires_at`` and ``key``."""
        return {
            "client_id": self.client.client_id,
            "role": self.client.role.value,
            "scope": sorted(self.client.scope),
            "expires_at": _iso(self.client.expires_at),
            "key": self.key,
        }


def status_at(row: _Row, now: dt.datetime) -> ClientStatus:
    if row.revoked_at is not None:
        return ClientStatus.REVOKED
    if row.expires_at is not None and row.expires_at <= now:
        return ClientStatus.EXPIRED
    return ClientStatus.ACTIVE


def view_of(row: ApiClientRecord, now: dt.datetime) -> ClientView:
    return ClientView(
        client_id=row.client_id,
        name=row.name,
        role=Role(row.role),
        scope=_scope(row),
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        status=status_at(row, now),
    )


def client_of(row: _Row) -> ApiClient:
    """The authenticated client of ``row`` (the contract's :class:`ApiClient`)."""
    return ApiClient(
        client_id=row.client_id,
        name=row.name,
        role=Role(row.role),
        scope=_scope(row),
        expires_at=row.expires_at,
    )
