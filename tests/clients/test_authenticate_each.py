"""authenticate_each (card_service/clients/registry.py): a batch of API keys is answered key
by key, in order, as authenticate answers each (the client, or the one Unauthenticated
message whatever the cause), with the rows read on one connection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from card_service.clients import ApiClient, Role, Unauthenticated, registry
from card_service.clients import keys as client_keys
from card_service.clients.keys import UNAUTHENTICATED, hash_key, new_key
from card_service.clients.views import CreatedClient
from card_service.register.store import Store
from tests.dbfixtures import NOW

HOUR = dt.timedelta(hours=1)


def _client(store: Store, name: str, **kw: Any) -> CreatedClient:
    return registry.create_client(store, name, Role.RELYING_PARTY, NOW, scope=["full_name"], **kw)


@pytest.fixture
def checkouts(store: Store) -> Iterator[list[object]]:
    """The engine's pool check-outs during the test (after the fixtures' writes)."""
    seen: list[object] = []

    def on_checkout(*_: object) -> None:
        seen.append(object())

    event.listen(store.engine, "checkout", on_checkout)
    yield seen
    event.remove(store.engine, "checkout", on_checkout)


def test_a_mixed_batch_is_answered_key_by_key(store: Store) -> None:
    good = _client(store, "bank")
    other = _client(store, "shop")
    revoked = _client(store, "gone")
    registry.revoke_client(store, revoked.client.client_id, NOW)
    expiring = _client(store, "late", expires_at=NOW + HOUR)
    keys: list[object] = [
        good.key,
        "permit_pc_0123_abc",  # malformed
        new_key(client_keys.new_client_id()),  # unknown id
        revoked.key,
        expiring.key,  # expired at the batch's now
        new_key(good.client.client_id),  # the right id, a wrong secret
        None,
        other.key,
        good.key,  # the same key twice in one batch
    ]
    answers = registry.authenticate_each(store, keys, NOW + HOUR)
    assert len(answers) == len(keys)
    assert isinstance(answers[0], ApiClient) and answers[0].client_id == good.client.client_id
    assert isinstance(answers[7], ApiClient) and answers[7].client_id == other.client.client_id
    assert answers[8] == answers[0]
    refused = [a for i, a in enumerate(answers) if i not in (0, 7, 8)]
    assert all(isinstance(a, Unauthenticated) for a in refused), answers
    assert {str(a) for a in refused} == {UNAUTHENTICATED}
    assert {a.code for a in refused if isinstance(a, Unauthenticated)} == {"unauthenticated"}
    # an hour earlier the expiring client is still active
    assert isinstance(registry.authenticate_each(store, [expiring.key], NOW)[0], ApiClient)


def test_a_batch_answers_as_authenticate_one_by_one(store: Store) -> None:
    good = _client(store, "bank")
    revoked = _client(store, "gone")
    registry.revoke_client(store, revoked.client.client_id, NOW)
    keys: list[object] = [revoked.key, good.key, "", b"permit_", good.key + "A" * 1000]
    single: list[ApiClient | str] = []
    for key in keys:
        try:
            single.append(registry.authenticate(store, key, NOW))
        except Unauthenticated as exc:
            single.append(str(exc))
    batched = [
        a if isinstance(a, ApiClient) else str(a)
        for a in registry.authenticate_each(store, keys, NOW)
    ]
    assert batched == single
    assert [isinstance(a, ApiClient) for a in batched] == [False, True, False, False, False]


def test_the_rows_are_read_on_one_connection(store: Store, checkouts: list[object]) -> None:
    created = [_client(store, f"bank {i}") for i in range(4)]
    checkouts.clear()
    answers = registry.authenticate_each(store, [c.key for c in created], NOW)
    assert all(isinstance(a, ApiClient) for a in answers)
    assert len(checkouts) == 1


def test_malformed_keys_never_reach_the_database(store: Store, checkouts: list[object]) -> None:
    _client(store, "bank")  # the prepared read exists for this store
    checkouts.clear()
    answers = registry.authenticate_each(store, ["", None, "permit_pc_x_y", 42], NOW)
    assert all(isinstance(a, Unauthenticated) for a in answers)
    assert checkouts == []
    assert registry.authenticate_each(store, [], NOW) == []
    assert checkouts == []


def test_each_unknown_id_is_compared_against_the_dummy_hash(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _client(store, "bank")
    compared: list[str] = []
    original = client_keys.key_matches

    def spy(key: str, stored: str) -> bool:
        compared.append(stored)
        return original(key, stored)

    monkeypatch.setattr(registry, "key_matches", spy)
    unknown = new_key(client_keys.new_client_id())
    registry.authenticate_each(store, [unknown, "junk", good.key, unknown], NOW)
    assert compared == [client_keys.DUMMY_HASH, hash_key(good.key), client_keys.DUMMY_HASH]


def test_a_naive_now_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        registry.authenticate_each(store, [], dt.datetime(2026, 1, 1))
