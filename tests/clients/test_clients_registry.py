"""The register of API clients on SQLite and PostgreSQL: round trip, every failed
authentication alike, keys never stored, an audit entry per change, the rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from sqlmodel import Session

from card_service.audit import AuditEvent, verify_audit_log
from card_service.clients import ApiClient, Role, Unauthenticated, registry
from card_service.clients import keys as client_keys
from card_service.clients.errors import ClientInvalid, ClientNotFound, ClientRevoked
from card_service.clients.keys import UNAUTHENTICATED, hash_key, new_key, parse_key
from card_service.clients.views import ClientStatus, CreatedClient
from card_service.register.store import Store
from tests.dbfixtures import NOW

LATER = NOW + dt.timedelta(days=1)


def _bank(store: Store, **kw: Any) -> CreatedClient:
    return registry.create_client(
        store, "Bank of Hangzhou", Role.RELYING_PARTY, NOW, scope=["full_name"], **kw
    )


def test_create_then_authenticate(store: Store) -> None:
    created = registry.create_client(
        store,
        "Bank of Hangzhou, branch 12",
        Role.RELYING_PARTY,
        NOW,
        scope=["full_name", "citizen_id"],
        expires_at=NOW + dt.timedelta(days=90),
    )
    view = created.client
    assert client_keys.CLIENT_ID_PATTERN.fullmatch(view.client_id)
    assert created.key.startswith(f"permit_{view.client_id}_")
    assert parse_key(created.key) == view.client_id
    assert created.key not in repr(created)
    client = registry.authenticate(store, created.key, LATER)
    assert client == ApiClient(
        view.client_id,
        "Bank of Hangzhou, branch 12",
        Role.RELYING_PARTY,
        frozenset({"full_name", "citizen_id"}),
        NOW + dt.timedelta(days=90),
    )
    officer = registry.create_client(store, "desk 3", "officer", NOW)
    assert registry.authenticate(store, officer.key, NOW).role is Role.OFFICER
    listed = registry.list_clients(store, NOW)
    # oldest first, then by id
    assert [v.client_id for v in listed] == sorted([view.client_id, officer.client.client_id])
    assert all(v.status is ClientStatus.ACTIVE for v in listed)
    for v in listed:
        assert "key" not in v.to_json() and "key_hash" not in v.to_json()


def _refusal(store: Store, key: object, now: dt.datetime) -> str:
    with pytest.raises(Unauthenticated) as info:
        registry.authenticate(store, key, now)
    assert info.value.code == "unauthenticated"
    return str(info.value)


def test_every_failed_authentication_is_the_same(store: Store) -> None:
    good = _bank(store, expires_at=NOW + dt.timedelta(hours=1))
    revoked = _bank(store)
    registry.revoke_client(store, revoked.client.client_id, NOW)
    client_id = good.client.client_id
    wrong_secret = new_key(client_id)
    unknown_id = new_key(client_keys.new_client_id())
    cases: dict[str, tuple[object, dt.datetime]] = {
        "expired": (good.key, NOW + dt.timedelta(hours=1)),
        "revoked": (revoked.key, NOW),
        "wrong secret": (wrong_secret, NOW),
        "unknown id": (unknown_id, NOW),
        "malformed": ("permit_pc_0123_abc", NOW),
        "empty": ("", NOW),
        "bearer": ("Bearer " + good.key, NOW),
        "too long": (good.key + "A" * 1000, NOW),
        "upper-case id": (good.key.replace(client_id, client_id.upper()), NOW),
        "not text": (b"permit_", NOW),
        "none": (None, NOW),
    }
    messages = {name: _refusal(store, key, now) for name, (key, now) in cases.items()}
    assert set(messages.values()) == {UNAUTHENTICATED}, messages
    for message in messages.values():
        assert good.key not in message and client_id not in message
    assert registry.authenticate(store, good.key, NOW).client_id == client_id


def test_unknown_id_is_compared_against_a_dummy_hash(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown id does the same work as a wrong secret: one constant-time comparison."""
    compared: list[str] = []
    original = registry.key_matches

    def spy(key: str, stored: str) -> bool:
        compared.append(stored)
        return original(key, stored)

    monkeypatch.setattr(registry, "key_matches", spy)
    created = _bank(store)
    with pytest.raises(Unauthenticated):
        registry.authenticate(store, new_key(client_keys.new_client_id()), NOW)
    with pytest.raises(Unauthenticated):
        registry.authenticate(store, new_key(created.client.client_id), NOW)
    assert compared == [client_keys.DUMMY_HASH, hash_key(created.key)]


def test_the_key_is_never_stored(store: Store) -> None:
    created = _bank(store)
    secret = created.key.split("_", 3)[3]
    registry.expire_client(store, created.client.client_id, NOW, at=LATER)
    registry.revoke_client(store, created.client.client_id, NOW)
    seen = 0
    with store.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    seen += 1
                    assert secret not in str(value), table
                    assert created.key not in str(value), table
        stored = conn.execute(text("SELECT key_hash FROM api_client")).scalar_one()
    assert stored == hash_key(created.key) and seen > 20


def test_every_change_appends_an_audit_entry(store: Store) -> None:
    created = registry.create_client(store, "auditor one", Role.AUDITOR, NOW, actor="ops-1")
    client_id = created.client.client_id
    registry.expire_client(store, client_id, NOW, at=LATER, actor="ops-2")
    registry.revoke_client(store, client_id, NOW)
    with Session(store.engine) as session:
        events = session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()  # type: ignore[arg-type]
        report = verify_audit_log(session, None, NOW)
    assert [(e.actor, e.action, e.result) for e in events] == [
        ("ops-1", "client.create", f"client={client_id},role=auditor"),
        ("ops-2", "client.expire", f"client={client_id},role=auditor"),
        ("admin", "client.revoke", f"client={client_id},role=auditor"),
    ]
    assert report.ok and report.entries_checked == 3
    for event in events:
        assert created.key.split("_", 3)[3] not in event.result


def test_a_failed_change_appends_nothing(store: Store) -> None:
    created = _bank(store)
    registry.revoke_client(store, created.client.client_id, NOW)
    with pytest.raises(ClientRevoked):
        registry.revoke_client(store, created.client.client_id, NOW)
    with pytest.raises(ClientRevoked):
        registry.expire_client(store, created.client.client_id, NOW)
    with pytest.raises(ClientNotFound):
        registry.revoke_client(store, client_keys.new_client_id(), NOW)
    with pytest.raises(ClientNotFound):
        registry.expire_client(store, "pc_\x00; DROP TABLE api_client", NOW)
    with pytest.raises(ClientInvalid):
        registry.create_client(store, "x", Role.ADMIN, NOW, scope=["full_name"])
    with Session(store.engine) as session:
        actions = session.execute(select(AuditEvent.action)).scalars().all()  # type: ignore[call-overload]
    assert actions == ["client.create", "client.revoke"]


def test_expiry(store: Store) -> None:
    created = _bank(store)
    client_id = created.client.client_id
    view = registry.expire_client(store, client_id, NOW)
    assert view.expires_at == NOW and view.status is ClientStatus.EXPIRED
    with pytest.raises(Unauthenticated):
        registry.authenticate(store, created.key, NOW)
    # an administrator may extend a client again
    registry.expire_client(store, client_id, NOW, at=LATER)
    assert registry.authenticate(store, created.key, NOW).expires_at == LATER
    assert registry.list_clients(store, LATER)[0].status is ClientStatus.EXPIRED
    with pytest.raises(ClientInvalid, match="timezone"):
        registry.expire_client(store, client_id, NOW, at=dt.datetime(2027, 1, 1))
    with pytest.raises(ClientInvalid, match="future"):
        _bank(store, expires_at=NOW)


@pytest.mark.parametrize(
    ("role", "scope", "problem"),
    [
        (Role.RELYING_PARTY, ["full_name", "shoe_size"], "unknown element"),
        (Role.RELYING_PARTY, ["Full_Name"], "unknown element"),
        (Role.RELYING_PARTY, "full_name", "list"),
        (Role.OFFICER, ["full_name"], "only a relying_party"),
        (Role.CLERK, ["permit_number"], "only a relying_party"),
        ("superuser", [], "unknown client role"),
    ],
)
def test_scope_and_role_rules(store: Store, role: str, scope: object, problem: str) -> None:
    with pytest.raises(ClientInvalid, match=problem) as info:
        registry.create_client(store, "someone", role, NOW, scope=scope)  # type: ignore[arg-type]
    assert info.value.code == "client_invalid" and info.value.kind == "invalid"
    assert registry.list_clients(store, NOW) == []


def test_every_element_identifier_is_a_valid_scope(store: Store) -> None:
    from card_service.record.data import ELEMENTS

    everything = [e.identifier for e in ELEMENTS]
    created = registry.create_client(store, "all", Role.RELYING_PARTY, NOW, scope=everything)
    assert registry.authenticate(store, created.key, NOW).scope == frozenset(everything)
    empty = registry.create_client(store, "mandatory only", Role.RELYING_PARTY, NOW)
    assert registry.authenticate(store, empty.key, NOW).scope == frozenset()


@pytest.mark.parametrize(
    "name",
    ["", "   ", "bank\x00", "bank\nInjected: line", "bank\u202e", " bank", "x" * 101, 42],
)
def test_names_are_validated(store: Store, name: object) -> None:
    with pytest.raises(ClientInvalid, match="client name") as info:
        registry.create_client(store, name, Role.CLERK, NOW)  # type: ignore[arg-type]
    assert "\x00" not in str(info.value) and "Injected" not in str(info.value)


def test_names_may_repeat_and_hold_any_script(store: Store) -> None:
    """Rotation: a second client of the same name, then the old one revoked."""
    old = registry.create_client(store, "杭州银行 柜台", Role.RELYING_PARTY, NOW)
    new = registry.create_client(store, "杭州银行 柜台", Role.RELYING_PARTY, NOW)
    registry.revoke_client(store, old.client.client_id, NOW)
    assert registry.authenticate(store, new.key, NOW).name == "杭州银行 柜台"
    with pytest.raises(Unauthenticated):
        registry.authenticate(store, old.key, NOW)


def test_naive_now_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone"):
        registry.create_client(store, "x", Role.CLERK, NOW.replace(tzinfo=None))


@pytest.mark.parametrize("actor", ["", "ops 1", "ops\n1", "x" * 65, "办公室"])
def test_the_actor_is_an_identifier(store: Store, actor: str) -> None:
    with pytest.raises(ClientInvalid, match="actor"):
        registry.create_client(store, "desk", Role.CLERK, NOW, actor=actor)
    created = registry.create_client(store, "desk", Role.CLERK, NOW, actor="pc_0123456789abcdef")
    with pytest.raises(ClientInvalid, match="actor"):
        registry.expire_client(store, created.client.client_id, NOW, actor=actor)
    with pytest.raises(ClientInvalid, match="actor"):
        registry.revoke_client(store, created.client.client_id, NOW, actor=actor)
    assert registry.list_clients(store, NOW)[0].created_by == "pc_0123456789abcdef"
