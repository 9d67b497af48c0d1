"""API clients of the permit service: who may call it, in which role, with which scope.

This module is the contract the HTTP API and the application layer share (roles, the
authenticated client, the errors); it imports nothing of the register, so an entry point may
import it.  The register of clients builds on it (docs/clients.md): :mod:`.keys` (key format,
hashing, constant-time check), :mod:`.rules` (name, role, scope, expiry),
:mod:`.registry` (create, list, expire, revoke, authenticate, each change audited),
:mod:`.views` and :mod:`.errors`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from permit_errors import ErrorKind, PermitError

__all__ = ["ApiClient", "Forbidden", "Role", "Unauthenticated"]


class Role(StrEnum):
    """What a client may do; every route names the roles it admits (deny by default)."""

    #: Issuing officers: applications, issue, endorse, revoke, replace, look-ups, readers.
    OFFICER = "officer"
    #: Counter clerks: verify the card in a reader, reader events.
    CLERK = "clerk"
    #: Merchants and banks: challenges, presentations within their disclosure scope, status.
    RELYING_PARTY = "relying_party"
    #: Auditors: read the audit log and run its verification.
    AUDITOR = "auditor"
    #: Administrators: API clients.
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiClient:
    """An authenticated client (never its key): id, role, disclosure scope, expiry."""

    client_id: str
    name: str
    role: Role
    #: Element identifiers a relying party may receive (empty for other roles).
    scope: frozenset[str] = field(default_factory=frozenset)
    expires_at: dt.datetime | None = None


class Unauthenticated(PermitError):
    """No API key, or one that is unknown, expired or revoked (the message never says
    which, and never echoes the key)."""

    code = "unauthenticated"
    kind = ErrorKind.UNAUTHORISED


class Forbidden(PermitError):
    """The client's role or scope does not admit the request."""

    code = "forbidden"
    kind = ErrorKind.FORBIDDEN
