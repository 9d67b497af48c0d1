"""The expected failures of the register of API clients (beside the contract's
:class:`~card_service.clients.Unauthenticated` and :class:`~card_service.clients.Forbidden`)."""

from __future__ import annotations

from permit_errors import ErrorKind, PermitError

__all__ = ["ClientError", "ClientInvalid", "ClientNotFound", "ClientRevoked"]


class ClientError(PermitError):
    """Base of the failures administering API clients."""

    code = "client_error"
    kind = ErrorKind.INVALID


class ClientInvalid(ClientError):
    """A name, role, scope or expiry breaks a rule (the message names the field)."""

    code = "client_invalid"
    kind = ErrorKind.INVALID


class ClientNotFound(ClientError):
    """No client has that id."""

    code = "client_not_found"
    kind = ErrorKind.NOT_FOUND


class ClientRevoked(ClientError):
    """The client is revoked: it can be neither revoked again nor given another expiry."""

    code = "client_revoked"
    kind = ErrorKind.CONFLICT
