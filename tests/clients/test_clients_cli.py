"""``permit clients create|list|expire|revoke`` through ``api.cli.main`` (errors mapped as
in production), on SQLite and PostgreSQL; and ``-vv`` runs whose logs hold no API key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from card_service.office import Office, Settings
from tests.dbfixtures import NOW
from tests.secretlog import SecretLog


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"PERMIT_DATABASE_URL": db_url, "PERMIT_HOME": str(tmp_path / "home")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    assert main(["register", "migrate"]) == 0
    return values


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_create_list_expire_revoke(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    argv = ["clients", "create", "--name", "Bank of Hangzhou", "--role", "relying_party"]
    argv += ["--scope", "full_name, citizen_id", "--expires", "2099-01-01T00:00:00+08:00"]
    assert main([*argv, "--json"]) == 0
    created = _json(capsys)
    assert isinstance(created, dict)
    assert set(created) == {"client_id", "role", "scope", "expires_at", "key"}
    assert created["role"] == "relying_party"
    assert created["scope"] == ["citizen_id", "full_name"]
    assert created["expires_at"] == "2098-12-31T16:00:00+00:00"
    client_id, key = created["client_id"], created["key"]
    assert key.startswith(f"permit_{client_id}_")

    with Office.from_settings(Settings.from_env(env)) as office:
        assert office.authenticate_client(key, NOW).client_id == client_id

    assert main(["clients", "create", "--name", "desk 3", "--role", "officer"]) == 0
    out = capsys.readouterr()
    assert "created" in out.out and "key      permit_pc_" in out.out
    assert "shown only this once" in out.err

    assert main(["clients", "list", "--json"]) == 0
    listed = _json(capsys)
    assert isinstance(listed, list) and len(listed) == 2
    assert key not in json.dumps(listed) and "key_hash" not in json.dumps(listed)
    assert {c["role"] for c in listed} == {"relying_party", "officer"}
    assert main(["clients", "list"]) == 0
    text = capsys.readouterr().out
    assert client_id in text and "active" in text and "permit_pc_" not in text

    assert main(["clients", "expire", client_id, "--at", "2030-01-01T00:00:00Z"]) == 0
    assert "expires at 2030-01-01T00:00:00+00:00" in capsys.readouterr().out
    assert main(["clients", "revoke", client_id]) == 0
    assert f"client {client_id} revoked" in capsys.readouterr().out
    assert main(["clients", "list", "--json"]) == 0
    statuses = {c["client_id"]: c["status"] for c in _json(capsys)}  # type: ignore[union-attr]
    assert statuses[client_id] == "revoked"
    with Office.from_settings(Settings.from_env(env)) as office:
        with pytest.raises(Exception, match="missing, unknown, expired or revoked API key"):
            office.authenticate_client(key, NOW)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["clients", "revoke", "pc_0000000000000000"], 1, "no such API client"),
        (["clients", "expire", "bogus"], 1, "no such API client"),
        (
            ["clients", "create", "--name", "desk", "--role", "clerk", "--scope", "full_name"],
            2,
            "only a relying_party client has a scope",
        ),
        (
            ["clients", "create", "--name", "b", "--role", "relying_party", "--scope", "shoe"],
            2,
            "unknown element",
        ),
        (["clients", "create", "--name", "desk\x1b[2J", "--role", "clerk"], 2, "client name"),
        (["clients", "create", "--name", "desk", "--role", "root"], 2, "invalid choice"),
        (
            ["clients", "create", "--name", "d", "--role", "clerk", "--expires", "2030-01-01"],
            2,
            "time zone",
        ),
    ],
)
def test_failures_are_one_line(
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    capsys.readouterr()
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("permit: ") and err.count("\n") == 1 and message in err, err
    assert "\x1b" not in err


def test_no_api_key_in_the_logs(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], secret_log: SecretLog
) -> None:
    """``permit -vv clients ...`` and the authentications that follow (failures included):
    the key is on stdout of ``create`` only, never in a log record or on stderr."""
    capsys.readouterr()
    argv = ["-vv", "clients", "create", "--name", "Bank", "--role", "relying_party", "--json"]
    assert main(argv) == 0
    out = capsys.readouterr()
    created = json.loads(out.out)
    secret_log.add_text(out.err)
    key = created["key"]
    client_id = created["client_id"]
    with Office.from_settings(Settings.from_env(env)) as office:
        office.authenticate_client(key, NOW)
        for bad in (key + "x", key[:-1] + ("A" if key[-1] != "A" else "B"), key.upper()):
            with pytest.raises(Exception, match="API key"):
                office.authenticate_client(bad, NOW)
            secret_log.secret("api_key_variant", bad)
    for argv in (
        ["-vv", "clients", "list"],
        ["-vv", "clients", "list", "--json"],
        ["-vv", "clients", "expire", client_id],
        ["-vv", "clients", "revoke", client_id],
        ["-vv", "clients", "revoke", client_id],
    ):
        main(argv)
        out = capsys.readouterr()
        secret_log.add_text(out.out + out.err)
    with Office.from_settings(Settings.from_env(env)) as office:
        with pytest.raises(Exception, match="API key"):
            office.authenticate_client(key, NOW)
    secret_log.assert_clean(require=["api_key", "api_key_secret"], min_records=5)
