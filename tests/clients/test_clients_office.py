"""The office's client use cases (on the ephemeral office and on a configured one): stable
error codes and kinds, the database failure mapped, the upgrade from migration 0001."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import inspect, text

from card_service.clients import ApiClient, Role, Unauthenticated
from card_service.migrations import upgrade
from card_service.office import ClientStatus, EphemeralOffice, Office, Settings, ephemeral_office
from card_service.office.errors import (
    ClientNotFound,
    ClientRevoked,
    RegisterUnavailable,
    RequestInvalid,
)
from card_service.register.db import make_engine
from permit_errors import ErrorKind
from tests.dbfixtures import NOW


@pytest.fixture
def office() -> Iterator[EphemeralOffice]:
    with ephemeral_office(NOW) as office:
        yield office


def test_the_ephemeral_office_has_clients(office: EphemeralOffice) -> None:
    created = office.create_client(
        "Bank of Hangzhou", Role.RELYING_PARTY, NOW, scope=("full_name", "expiry_date")
    )
    client = office.authenticate_client(created.key, NOW)
    assert isinstance(client, ApiClient) and client.scope == {"full_name", "expiry_date"}
    [view] = office.list_clients(NOW)
    assert view.client_id == client.client_id and view.status is ClientStatus.ACTIVE
    office.expire_client(view.client_id, NOW, at=NOW + dt.timedelta(minutes=5))
    assert office.authenticate_client(created.key, NOW).expires_at == NOW + dt.timedelta(minutes=5)
    revoked = office.revoke_client(view.client_id, NOW)
    assert revoked.status is ClientStatus.REVOKED and revoked.revoked_at == NOW
    with pytest.raises(Unauthenticated):
        office.authenticate_client(created.key, NOW)


@pytest.mark.parametrize(
    ("call", "code", "kind"),
    [
        (lambda o: o.expire_client("pc_0000000000000000", NOW), "client_not_found", "not_found"),
        (lambda o: o.revoke_client("nonsense", NOW), "client_not_found", "not_found"),
        (
            lambda o: o.create_client("desk", "officer", NOW, scope=["full_name"]),
            "client_invalid",
            "invalid",
        ),
        (lambda o: o.create_client("desk", "root", NOW), "client_invalid", "invalid"),
        (lambda o: o.create_client("desk\x07", "clerk", NOW), "client_invalid", "invalid"),
        (
            lambda o: o.create_client("desk", "clerk", NOW, expires_at=NOW),
            "client_invalid",
            "invalid",
        ),
        (lambda o: o.authenticate_client("permit_x", NOW), "unauthenticated", "unauthorised"),
    ],
)
def test_expected_failures_have_stable_codes(
    office: EphemeralOffice, call: object, code: str, kind: str
) -> None:
    with pytest.raises(Exception) as info:
        call(office)  # type: ignore[operator]
    error = info.value
    assert getattr(error, "code", None) == code and getattr(error, "kind", None) == ErrorKind(kind)
    if kind == "invalid":  # the caller's to fix: the CLI exits 2
        assert isinstance(error, RequestInvalid)
    if kind == "not_found":
        assert isinstance(error, ClientNotFound)


def test_revoking_twice_is_a_conflict(office: EphemeralOffice) -> None:
    created = office.create_client("desk", Role.CLERK, NOW)
    office.revoke_client(created.client.client_id, NOW)
    with pytest.raises(ClientRevoked) as info:
        office.revoke_client(created.client.client_id, NOW)
    assert info.value.kind is ErrorKind.CONFLICT


def test_an_unmigrated_register_is_unavailable(tmp_path: object) -> None:
    settings = Settings.from_env({"PERMIT_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"})
    with Office.from_settings(settings) as office:
        with pytest.raises(RegisterUnavailable) as info:
            office.list_clients(NOW)
        assert "no such table" not in str(info.value)
        with pytest.raises(RegisterUnavailable):
            office.authenticate_client("permit_pc_0000000000000000_" + "A" * 43, NOW)


def test_upgrade_from_0001_replaces_the_placeholder_table(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        old = {c["name"] for c in inspect(engine).get_columns("api_client")}
        assert "roles" in old
        upgrade(engine)
        new = {c["name"] for c in inspect(engine).get_columns("api_client")}
        assert new == {
            "client_id",
            "name",
            "role",
            "scope",
            "key_hash",
            "created_at",
            "expires_at",
            "revoked_at",
            "created_by",
        }
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        with Office.from_settings(Settings.from_env({"PERMIT_DATABASE_URL": db_url})) as office:
            created = office.create_client("desk", "clerk", NOW)
            assert office.authenticate_client(created.key, NOW).role is Role.CLERK
    finally:
        engine.dispose()
