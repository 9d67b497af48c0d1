"""Settings: the one environment read, interpreted on use, failures as one-line
PermitErrors of kind CONFIG; the CLI's one error mapping over them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from api.cli import describe, exit_code
from card_service.office import Office, Settings, SharedStateUnavailable
from card_service.office.errors import EnvironmentConfigError, SettingsError, SimulatorRefused
from card_service.shared_state import DEFAULT_RATE_LIMITS, RateLimit
from permit_errors import ErrorKind


def test_from_env_reads_once_and_hides_secrets(tmp_path: Path) -> None:
    env = {
        "PERMIT_HOME": str(tmp_path),
        "PERMIT_DATABASE_URL": " sqlite:///x.db ",
        "PERMIT_READERS": "SIM",
        "PERMIT_KEY_PASSPHRASE": "correct horse battery",
        "UNRELATED": "1",
    }
    settings = Settings.from_env(env)
    env.clear()  # a snapshot: later changes do not leak in
    assert settings.home == tmp_path and settings.readers == "sim"
    assert settings.register_url() == "sqlite:///x.db"
    assert "correct horse" not in repr(settings)
    assert settings.key_settings().passphrase() == b"correct horse battery"
    assert settings.checkpoint_every() == 100 and settings.authority_code() is None


def test_unknown_environment_is_refused_at_once() -> None:
    with pytest.raises(EnvironmentConfigError) as info:
        Settings.from_env({"PERMIT_ENV": "prod"})
    assert info.value.kind is ErrorKind.CONFIG
    assert describe(info.value).startswith("configuration error: PERMIT_ENV must be")
    assert exit_code(info.value) == 2


@pytest.mark.parametrize(
    ("env", "use", "message"),
    [
        ({"PERMIT_AUTHORITY_CODE": "33A106"}, "authority_code", "authority code must be 6 digits"),
        (
            {"PERMIT_AUDIT_CHECKPOINT_EVERY": "0"},
            "checkpoint_every",
            "PERMIT_AUDIT_CHECKPOINT_EVERY must be a whole number from 1 to 100000",
        ),
    ],
)
def test_bad_settings_fail_on_use(env: dict[str, str], use: str, message: str) -> None:
    settings = Settings.from_env(env)  # other commands are not refused for it
    with pytest.raises(SettingsError, match=message) as info:
        getattr(settings, use)()
    assert info.value.code == "settings_invalid" and exit_code(info.value) == 2
    assert describe(info.value) == f"error: {info.value}"


def test_database_url_and_readers_are_checked_when_opened(tmp_path: Path) -> None:
    base = {"PERMIT_HOME": str(tmp_path)}
    with Office.from_env({**base, "PERMIT_DATABASE_URL": "not a url"}) as office:
        with pytest.raises(SettingsError, match="not a usable database URL"):
            office.engine  # noqa: B018
    with Office.from_env({**base, "PERMIT_READERS": "bogus"}) as office:
        with pytest.raises(SettingsError) as info:
            office.readers()
    assert describe(info.value, "plain") == "unknown reader driver 'bogus'; valid names: pcsc, sim"
    production = {**base, "PERMIT_ENV": "production", "PERMIT_READERS": "sim"}
    with Office.from_env(production) as office:
        with pytest.raises(SimulatorRefused) as refused:
            office.readers()
    assert "is refused when PERMIT_ENV=production" in describe(refused.value, "workflow")
    assert exit_code(refused.value) == 2


def test_a_failure_after_approval_names_the_application_to_retry() -> None:
    from card_service.office.errors import ApprovedNotIssued
    from reader_drivers.errors import NoCard

    cause = NoCard("Reader 0")
    failed = ApprovedNotIssued(cause, 7)
    assert (failed.code, failed.kind) == (cause.code, cause.kind)
    assert describe(failed, "workflow") == (
        f"error: NoCard: {cause} (application 7 is approved: retry with --application-id 7)"
    )
    assert exit_code(failed) == 1


NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def test_shared_state_settings_default_to_memory() -> None:
    settings = Settings.from_env({})
    assert settings.shared_state_url is None and settings.shared_state_prefix == "permit:"
    assert settings.rate_limits() is DEFAULT_RATE_LIMITS
    with Office.from_settings(settings) as office:
        state = office.shared_state
        assert state is office.shared_state  # built once, on first use
        assert state.backend == "memory" and state.health()["ready"] is True


def test_shared_state_settings_read_redis_and_hide_its_password() -> None:
    settings = Settings.from_env(
        {
            "PERMIT_REDIS_URL": " redis://:hunter2-pass@127.0.0.1:1/0 ",
            "PERMIT_REDIS_PREFIX": " permit-b: ",
            "PERMIT_RATE_LIMITS": "status=3/60",
        }
    )
    assert settings.shared_state_url == "redis://:hunter2-pass@127.0.0.1:1/0"
    assert settings.shared_state_prefix == "permit-b:"
    assert settings.rate_limits().for_class("status") == RateLimit(3, 60)
    assert "hunter2" not in repr(settings)
    with Office.from_settings(settings) as office:
        state = office.shared_state  # nothing connects until used
        assert state.backend == "redis" and state.health()["ready"] is False
        with pytest.raises(SharedStateUnavailable) as info:
            state.challenges.issue("bank-1", NOW)
        assert info.value.kind is ErrorKind.UNAVAILABLE and "hunter2" not in str(info.value)
        assert exit_code(info.value) == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PERMIT_REDIS_URL": "http://:pw@x/0"}, "PERMIT_REDIS_URL must be a redis://"),
        (
            {"PERMIT_REDIS_URL": "redis://127.0.0.1:1/0", "PERMIT_REDIS_PREFIX": "a b"},
            "PERMIT_REDIS_PREFIX must be",
        ),
        ({"PERMIT_RATE_LIMITS": "status=0/60"}, "a rate limit must be"),
        ({"PERMIT_RATE_LIMITS": "status"}, "PERMIT_RATE_LIMITS must be CLASS="),
    ],
)
def test_bad_shared_state_settings_fail_when_opened(env: dict[str, str], message: str) -> None:
    settings = Settings.from_env(env)  # other commands are not refused for it
    with Office.from_settings(settings) as office:
        with pytest.raises(SettingsError, match=message) as info:
            _ = office.shared_state
    assert info.value.kind is ErrorKind.CONFIG and exit_code(info.value) == 2
    assert "pw@" not in str(info.value)
