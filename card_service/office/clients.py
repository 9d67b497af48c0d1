"""The administrator's use cases for API clients, and the authentication the HTTP API asks
for on every request (card_service/clients, docs/clients.md).

Client changes are written without the key store: the audit entries they append are sealed
by the next use case that has the audit signer (as ``revoke`` does), so ``permit clients``
needs no key passphrase.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence

from card_service.clients import ApiClient, Role, Unauthenticated
from card_service.clients import registry as clients
from card_service.clients.errors import ClientInvalid
from card_service.clients.views import ClientView, CreatedClient
from card_service.register.db import read_only
from card_service.register.store import Store

from .core import OfficeCore
from .errors import RequestInvalid

__all__ = ["ClientUseCases"]


@contextlib.contextmanager
def _request() -> Iterator[None]:
    """A name, role, scope or expiry that breaks a rule is the caller's to fix: a
    :class:`RequestInvalid` with the client error's code (``client_invalid``)."""
    try:
        yield
    except ClientInvalid as exc:
        error = RequestInvalid(str(exc))
        error.code = exc.code
        raise error from None


class ClientUseCases(OfficeCore):
    """API clients (mixed into :class:`~.office.Office`)."""

    _client_store: Store | None = None
    _client_reader: Store | None = None

    def _clients(self) -> Store:
        if self._client_store is None:
            self._client_store = Store(self.engine)
        return self._client_store

    def create_client(
        self,
        name: str,
        role: Role | str,
        now: dt.datetime,
        *,
        scope: Iterable[str] = (),
        expires_at: dt.datetime | None = None,
        actor: str = "admin",
    ) -> CreatedClient:
        """A new client; the result carries its key, which is never shown again.

        A bad name, an unknown role or element, a scope for a role other than
        ``relying_party`` or an expiry not in the future is :class:`RequestInvalid`
        (code ``client_invalid``)."""
        store = self._clients()
        with _request(), self.database():
            return clients.create_client(
                store, name, role, now, scope=scope, expires_at=expires_at, actor=actor
            )

    def list_clients(self, now: dt.datetime) -> list[ClientView]:
        """Every client with its status at ``now``: never a key or a key's hash."""
        store = self._clients()
        with self.database():
            return clients.list_clients(store, now)

    def expire_client(
        self,
        client_id: str,
        now: dt.datetime,
        *,
        at: dt.datetime | None = None,
        actor: str = "admin",
    ) -> ClientView:
        """Set the client's expiry to ``at`` (default ``now``); an unknown id is
        :class:`~card_service.clients.errors.ClientNotFound`, a revoked client
        :class:`~card_service.clients.errors.ClientRevoked`."""
        store = self._clients()
        with _request(), self.database():
            return clients.expire_client(store, client_id, now, at=at, actor=actor)

    def revoke_client(
        self, client_id: str, now: dt.datetime, *, actor: str = "admin"
    ) -> ClientView:
        """Revoke the client for good (its key stops working at once)."""
        store = self._clients()
        with _request(), self.database():
            return clients.revoke_client(store, client_id, now, actor=actor)

    def authenticate_client(self, key: str, now: dt.datetime) -> ApiClient:
        """The active client of ``key``; :class:`~card_service.clients.Unauthenticated`
        (one message for a malformed, unknown, expired or revoked key) otherwise."""
        with self.database():
            return clients.authenticate(self._client_lookups(), key, now)

    def authenticate_clients(
        self, keys: Sequence[str], now: dt.datetime
    ) -> list[ApiClient | Unauthenticated]:
        """:meth:`authenticate_client` of each key (a batch: one connection); each answer is
        the client or its :class:`~card_service.clients.Unauthenticated`."""
        with self.database():
            return clients.authenticate_each(self._client_lookups(), keys, now)

    def _client_lookups(self) -> Store:
        if self._client_reader is None:  # a look-up: never queues behind a writer
            self._client_reader = Store(read_only(self.engine))
        return self._client_reader
