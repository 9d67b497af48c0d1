"""Hostile or absurd input to the key layer and ``permit keys`` (security review, CLI fuzzing):
typed one-line errors naming the problem, never OverflowError, RecursionError or x509 errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keys import fsutil
from keys.errors import CorruptKeyFile, SignerValidationError
from keys.pki import KeyManager
from keys.profiles import MAX_CITY_LENGTH, MAX_PERIOD_DAYS, PkiPolicy
from keys.registry import load_registry
from keys.store import Algorithm
from keys.trust import load_trust_dir

from .conftest import NOW, tree_digest
from .test_keys_cli import run

DEEP = "[" * 100_000 + "]" * 100_000

# --- PkiPolicy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"root_validity_days": 10**12}, "root_validity_days"),
        ({"root_validity_days": MAX_PERIOD_DAYS + 1}, "root_validity_days"),
        ({"signing_window_days": 10**9}, "signing_window_days"),
        ({"permit_validity_days": 3_000_000}, "permit_validity_days"),
        ({"crl_validity_days": 10**7}, "crl_validity_days"),
        ({"audit_signing_window_days": 0}, "audit_signing_window_days"),
        ({"audit_signing_window_days": MAX_PERIOD_DAYS + 1}, "audit_signing_window_days"),
        ({"audit_signing_window_days": False}, "audit_signing_window_days"),
        ({"audit_signing_window_days": 365.0}, "audit_signing_window_days"),
        ({"root_validity_days": 0}, "root_validity_days"),
        ({"root_validity_days": True}, "root_validity_days"),
        ({"root_validity_days": 30.5}, "root_validity_days"),
        ({"crl_refresh_margin_days": "7"}, "crl_refresh_margin_days"),
        ({"city": "x" * (MAX_CITY_LENGTH + 1)}, "city"),
        ({"city": "x" * 10_000}, "city"),
        ({"city": ""}, "city"),
        ({"city": "Bad\nCity"}, "city"),
        ({"city": 42}, "city"),
        ({"organisation": "o" * 65}, "organisation"),
        ({"country": "ÄÖ"}, "country"),
        ({"country": None}, "country"),
        ({"algorithm": "ed25519"}, "algorithm"),
        ({"crl_url": "http://crl.example/" + "x" * 2000}, "crl_url"),
        ({"crl_url": "http://crl.example/é"}, "crl_url"),
        ({"crl_url": "file:///etc/passwd"}, "crl_url"),
        ({"crl_url": 5}, "crl_url"),
    ],
)
def test_policy_bounds(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        PkiPolicy(**changes)


def test_policy_limits_still_build_certificates(manager: KeyManager) -> None:
    """The longest accepted names and periods produce valid certificates (no x509 error)."""
    policy = PkiPolicy(
        city="C" * MAX_CITY_LENGTH,
        organisation="O" * 64,
        root_validity_days=MAX_PERIOD_DAYS,
        permit_validity_days=MAX_PERIOD_DAYS,
        audit_signing_window_days=MAX_PERIOD_DAYS,
        crl_url="https://crl.example/" + "r" * 900,
    )
    registry = manager.init(NOW, policy)
    assert registry.policy == policy


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"root_validity_days": True}, "root_validity_days"),
        ({"root_validity_days": "7300"}, "root_validity_days"),
        ({"root_validity_days": 7300.0}, "root_validity_days"),
        ({"crl_validity_days": None}, "crl_validity_days"),
        ({"city": ["Shenzhen"]}, "city"),
        ({"country": 86}, "country"),
        ({"crl_url": {"u": 1}}, "crl_url"),
        ({"algorithm": 1}, "algorithm"),
        ({"root_validity_days": 10**12}, "root_validity_days"),
        ({"audit_signing_window_days": "365"}, "audit_signing_window_days"),
        ({"audit_signing_window_days": -1}, "audit_signing_window_days"),
    ],
)
def test_policy_from_json_type_checks(data: dict[str, Any], field: str) -> None:
    good = PkiPolicy().to_json()
    with pytest.raises(ValueError, match=field):
        PkiPolicy.from_json({**good, **data})


def test_policy_from_json_round_trip() -> None:
    policy = PkiPolicy(city="Shenzhen", algorithm=Algorithm.ED25519, crl_url="http://c.example/")
    assert PkiPolicy.from_json(json.loads(json.dumps(policy.to_json()))) == policy
    # a policy stored before audit signers existed gets the default audit window
    old = {k: v for k, v in policy.to_json().items() if k != "audit_signing_window_days"}
    assert PkiPolicy.from_json(old).audit_signing_window_days == 365
    with pytest.raises(ValueError, match="JSON object"):
        PkiPolicy.from_json([])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--root-validity-days", "99999999999"], "root_validity_days"),
        (["--root-validity-days", str(MAX_PERIOD_DAYS + 1)], "root_validity_days"),
        (["--permit-validity-days", "2958466"], "permit_validity_days"),
        (["--signing-window-days", "99999999999999999999"], "signing_window_days"),
        (["--crl-validity-days", "9999999999"], "crl_validity_days"),
        (["--audit-signing-window-days", "0"], "audit_signing_window_days"),
        (["--audit-signing-window-days", "99999999999"], "audit_signing_window_days"),
        (["--city", "x" * 1000], "city"),
        (["--organisation", "x" * 100], "organisation"),
        (["--crl-url", "http://x/" + "é"], "crl_url"),
    ],
)
def test_cli_init_absurd_values(
    key_env: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], field: str
) -> None:
    home = Path(key_env["PERMIT_HOME"])
    before = tree_digest(home)
    assert run(["keys", "init", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("permit: error: ") and err.count("\n") == 1 and field in err
    assert tree_digest(home) == before


# --- registry ----------------------------------------------------------------------------------


def _edit_registry(home: Path, edit: Any) -> None:
    path = home / "keys" / "registry.json"
    path.write_text(edit(json.loads(path.read_text())))


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: DEEP,
        lambda d: json.dumps({**d, "policy": json.loads("[" * 500 + "]" * 500)}),
        lambda d: json.dumps(d).replace('"seq": 1', '"seq": 1e400'),
        lambda d: json.dumps({**d, "policy": {**d["policy"], "root_validity_days": 10**12}}),
        lambda d: json.dumps({**d, "policy": {**d["policy"], "root_validity_days": True}}),
        lambda d: json.dumps({**d, "policy": {**d["policy"], "city": "x" * 500}}),
        lambda d: json.dumps({**d, "policy": "strict"}),
    ],
    ids=["deep", "deep-policy", "huge-seq", "policy-days", "policy-bool", "policy-city", "str"],
)
def test_corrupted_registry(initialised: KeyManager, edit: Any) -> None:
    home = initialised.directory.parent
    _edit_registry(home, edit)
    with pytest.raises(CorruptKeyFile, match="registry"):
        load_registry(initialised.directory)


def test_cli_with_deeply_nested_registry(
    initialised: KeyManager, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit_registry(initialised.directory.parent, lambda d: DEEP)
    assert run(["keys", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("permit: error: key registry") and "corrupted" in err
    assert err.count("\n") == 1


# --- trust directory ---------------------------------------------------------------------------


@pytest.fixture
def trust(initialised: KeyManager, tmp_path: Path) -> Path:
    target = tmp_path / "trust"
    initialised.export_trust(target, NOW)
    return target


@pytest.mark.parametrize(
    "manifest",
    [
        DEEP,
        "[]",
        '"manifest"',
        '{"roots": [], "signers": [], "crl": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"roots": [{"file": "/etc/hostname"}], "signers": []}',
        '{"roots": [{"file": "../trust/root-01.pem"}], "signers": []}',
        '{"roots": [{"file": "/dev/zero"}], "signers": []}',
        '{"roots": [{"file": 7}], "signers": []}',
        '{"roots": [], "signers": [], "crl": "crl.pem"}',
    ],
    ids=["deep", "list", "string", "deep-crl", "absolute", "dotdot", "dev-zero", "int", "crl-str"],
)
def test_bad_trust_manifest(trust: Path, manifest: str) -> None:
    (trust / "manifest.json").write_text(manifest)
    with pytest.raises(SignerValidationError, match="unreadable trust directory") as info:
        load_trust_dir(trust)
    assert "\n" not in str(info.value)


# --- export-trust messages ---------------------------------------------------------------------


def test_export_trust_missing_certificate_is_not_a_write_error(
    initialised: KeyManager, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A certificate missing from the key directory used to be reported as
    'cannot write <target>: No such file or directory'."""
    (initialised.directory / initialised.registry.signers[0].cert_file).unlink()
    target = tmp_path / "trust"
    assert run(["keys", "export-trust", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("permit: error: certificate certs/") and "missing or corrupted" in err
    assert "cannot write" not in err and err.count("\n") == 1


def test_export_trust_target_is_a_file(
    initialised: KeyManager, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "trust"
    target.write_text("not a directory")
    assert run(["keys", "export-trust", str(target)]) == 1
    err = capsys.readouterr().err
    assert err == f"permit: error: {target} exists and is not a directory\n"


def test_export_trust_unwritable_target(
    initialised: KeyManager,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(path: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(fsutil.os, "mkdir", refuse)
    target = tmp_path / "trust"
    assert run(["keys", "export-trust", str(target)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"permit: error: cannot write the trust list to {target}: Permission denied ({target})\n"
    )
