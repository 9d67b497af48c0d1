"""The register of API clients: create, list, expire, revoke, authenticate.

Clients live in the register database (table ``api_client``,
:class:`~card_service.register.models.ApiClientRecord`).  Every change is one transaction
of :func:`card_service.register.store.write` that also appends its audit entry (action
``client.create``, ``client.expire`` or ``client.revoke``; result ``client=<id>,role=<role>``;
never the key), so neither exists without the other.

:func:`authenticate` answers every failure - malformed, unknown, expired, revoked - with the
same :class:`~card_service.clients.Unauthenticated` and does the same work for an unknown id
as for a wrong secret (one primary-key look-up, one constant-time comparison against the
stored hash or :data:`~.keys.DUMMY_HASH`).  See docs/clients.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import weakref
from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, select
from sqlmodel import Session, col

from card_service.audit import append
from card_service.register.models import ApiClientRecord
from card_service.register.prepared import PreparedRead
from card_service.register.store import Store, write
from card_service.register.types import require_utc

from . import ApiClient, Role, Unauthenticated
from .errors import ClientInvalid, ClientNotFound, ClientRevoked
from .keys import (
    CLIENT_ID_PATTERN,
    DUMMY_HASH,
    UNAUTHENTICATED,
    hash_key,
    key_matches,
    new_client_id,
    new_key,
    parse_key,
)
from .rules import check_actor, check_expiry, check_name, check_role, check_scope
from .views import (
    ClientRow,
    ClientStatus,
    ClientView,
    CreatedClient,
    client_of,
    status_at,
    view_of,
)

__all__ = [
    "authenticate",
    "authenticate_each",
    "create_client",
    "expire_client",
    "list_clients",
    "revoke_client",
]

log = logging.getLogger(__name__)

#: :func:`authenticate`'s look-up: the columns of :class:`~.views.ClientRow`, by client id.
_BY_ID = select(
    col(ApiClientRecord.client_id),
    col(ApiClientRecord.name),
    col(ApiClientRecord.role),
    col(ApiClientRecord.scope),
    col(ApiClientRecord.key_hash),
    col(ApiClientRecord.expires_at),
    col(ApiClientRecord.revoked_at),
).where(col(ApiClientRecord.client_id) == bindparam("client_id"))
#: One prepared look-up per store (a store is one engine: one per process).
_reads: weakref.WeakKeyDictionary[Store, PreparedRead] = weakref.WeakKeyDictionary()


def _audit(
    session: Session, row: ApiClientRecord, action: str, actor: str, now: dt.datetime
) -> None:
    append(
        session,
        actor=actor,
        action=action,
        result=f"client={row.client_id},role={row.role}",
        now=now,
    )


def create_client(
    store: Store,
    name: str,
    role: Role | str,
    now: dt.datetime,
    *,
    scope: Iterable[str] = (),
    expires_at: dt.datetime | None = None,
    actor: str = "admin",
) -> CreatedClient:
    """A new client with a fresh key (returned once, stored only as its hash)."""
    now = require_utc(now)
    actor = check_actor(actor)
    name = check_name(name)
    checked_role = check_role(role)
    elements = check_scope(checked_role, scope)
    expiry = check_expiry(expires_at, now)
    client_id = new_client_id()
    key = new_key(client_id)
    row = ApiClientRecord(
        client_id=client_id,
        name=name,
        role=checked_role.value,
        scope=",".join(sorted(elements)),
        key_hash=hash_key(key),
        created_at=now,
        expires_at=expiry,
        created_by=actor,
    )

    def work(session: Session) -> ClientView:
        session.add(row)
        session.flush()
        _audit(session, row, "client.create", actor, now)
        return view_of(row, now)

    view = write(store, now, work)
    log.info("API client %s created (role %s)", client_id, checked_role.value)
    return CreatedClient(view, key)


def list_clients(store: Store, now: dt.datetime) -> list[ClientView]:
    """Every client, oldest first, with its status at ``now`` (no keys, no hashes)."""
    now = require_utc(now)
    with Session(store.engine) as session:
        rows = session.execute(
            select(ApiClientRecord).order_by(
                col(ApiClientRecord.created_at), col(ApiClientRecord.client_id)
            )
        ).scalars()
        return [view_of(row, now) for row in rows]


def _locked(session: Session, client_id: str) -> ApiClientRecord:
    if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise ClientNotFound("no such API client")
    row: ApiClientRecord | None = session.execute(
        select(ApiClientRecord).where(col(ApiClientRecord.client_id) == client_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise ClientNotFound("no such API client")
    return row


def expire_client(
    store: Store,
    client_id: str,
    now: dt.datetime,
    *,
    at: dt.datetime | None = None,
    actor: str = "admin",
) -> ClientView:
    """Set the client's expiry to ``at`` (default ``now``: at once).

    Any instant is accepted, a later one too (an administrator may extend a client); a
    revoked client is :class:`~.errors.ClientRevoked`."""
    now = require_utc(now)
    actor = check_actor(actor)
    try:
        when = now if at is None else require_utc(at, "the client expiry")
    except ValueError as exc:
        raise ClientInvalid(str(exc)) from None

    def work(session: Session) -> ClientView:
        row = _locked(session, client_id)
        if row.revoked_at is not None:
            raise ClientRevoked("the API client is revoked")
        row.expires_at = when
        session.add(row)
        session.flush()
        _audit(session, row, "client.expire", actor, now)
        return view_of(row, now)

    view = write(store, now, work)
    log.info("API client %s expires at %s", view.client_id, when.isoformat())
    return view


def revoke_client(
    store: Store, client_id: str, now: dt.datetime, *, actor: str = "admin"
) -> ClientView:
    """Revoke the client at ``now`` (final); revoking it again is
    :class:`~.errors.ClientRevoked`."""
    now = require_utc(now)
    actor = check_actor(actor)

    def work(session: Session) -> ClientView:
        row = _locked(session, client_id)
        if row.revoked_at is not None:
            raise ClientRevoked("the API client is already revoked")
        row.revoked_at = now
        session.add(row)
        session.flush()
        _audit(session, row, "client.revoke", actor, now)
        return view_of(row, now)

    view = write(store, now, work)
    log.info("API client %s revoked", view.client_id)
    return view


def authenticate(store: Store, key: object, now: dt.datetime) -> ApiClient:
    """The active client ``key`` belongs to; :class:`~card_service.clients.Unauthenticated`
    (one message, whatever the cause) otherwise.

    Every keyed request comes through here, so the row is read with a
    :class:`~card_service.register.prepared.PreparedRead` (one statement, no session): a
    revocation or expiry written by any process is seen by the very next request."""
    found = authenticate_each(store, [key], now)[0]
    if isinstance(found, Unauthenticated):
        raise found
    return found


def authenticate_each(
    store: Store, keys: Sequence[object], now: dt.datetime
) -> list[ApiClient | Unauthenticated]:
    """:func:`authenticate` of each key (a batch of requests: the rows are read on one
    connection); each answer is the client or the :class:`Unauthenticated` it raises."""
    now = require_utc(now)
    answers: list[ApiClient | Unauthenticated | None] = [None] * len(keys)
    wanted: list[tuple[int, str, str]] = []
    for i, key in enumerate(keys):
        try:
            client_id = parse_key(key)  # a malformed key never reaches the database
        except Unauthenticated as exc:
            answers[i] = exc
            continue
        assert isinstance(key, str)
        wanted.append((i, key, client_id))
    read = _reads.get(store)
    if read is None:
        read = _reads.setdefault(store, PreparedRead(store.engine, _BY_ID))
    rows = read.each([{"client_id": client_id} for _, _, client_id in wanted]) if wanted else []
    for (i, key, client_id), found in zip(wanted, rows, strict=True):
        row = None if found is None else ClientRow(*found)
        matches = key_matches(key, DUMMY_HASH if row is None else row.key_hash)
        if row is None or not matches or status_at(row, now) is not ClientStatus.ACTIVE:
            log.debug("API key refused (client %s)", client_id)
            answers[i] = Unauthenticated(UNAUTHENTICATED)
        else:
            answers[i] = client_of(row)
    return [a if a is not None else Unauthenticated(UNAUTHENTICATED) for a in answers]
