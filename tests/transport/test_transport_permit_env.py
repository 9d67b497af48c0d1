"""``PERMIT_ENV``: production refuses the card simulator (docs/simulator.md, "Threat model").

A simulated card keeps its keys, PIN and PUK in clear in an image file, so in production the
in-process simulator driver (``PERMIT_READERS=sim``, ``permit readers --driver sim``) and every
``permit sim`` command are refused with one line and exit 2; an unknown ``PERMIT_ENV`` is a
one-line configuration error for every command.  On the code before this change production
was not a notion: every refusal test below ran the simulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import permit_env
from api.cli import main
from permit_env import Environment, EnvironmentConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("PERMIT_HOME", str(h))
    for name in ("PERMIT_ENV", "PERMIT_READERS"):
        monkeypatch.delenv(name, raising=False)
    return h


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# ---- permit_env ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Environment.DEVELOPMENT),
        ("", Environment.DEVELOPMENT),
        ("development", Environment.DEVELOPMENT),
        ("production", Environment.PRODUCTION),
        (" Production ", Environment.PRODUCTION),
    ],
)
def test_values(value: str | None, expected: Environment) -> None:
    environ = {} if value is None else {"PERMIT_ENV": value}
    assert permit_env.current(environ) is expected
    assert permit_env.simulator_allowed(expected) is (expected is Environment.DEVELOPMENT)


@pytest.mark.parametrize("value", ["prod", "staging", "production1", "1", "dev"])
def test_unknown_value_is_a_configuration_error(value: str) -> None:
    with pytest.raises(EnvironmentConfigError) as info:
        permit_env.current({"PERMIT_ENV": value})
    text = str(info.value)
    assert "development or production" in text and repr(value) in text and "\n" not in text


def test_permit_env_imports_nothing_of_the_project() -> None:
    code = (
        "import sys, permit_env; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'api', 'card_service', 'keys', 'reader_drivers', 'simulators'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


# ---- the CLI -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("sim", "start", "--cards", "1"),
        ("sim", "list"),
        ("sim", "insert", "0"),
        ("sim", "remove", "0"),
        ("sim", "tear", "0", "--after", "1"),
    ],
)
def test_production_refuses_permit_sim(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
) -> None:
    monkeypatch.setenv("PERMIT_ENV", "production")
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert "`permit sim` is refused when PERMIT_ENV=production" in one_line(err)
    assert not (home / "sim").exists()  # no card image, no development key file


@pytest.mark.parametrize("how", ["option", "env"])
def test_production_refuses_the_simulator_driver_for_readers(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    monkeypatch.setenv("PERMIT_ENV", "production")
    if how == "env":
        monkeypatch.setenv("PERMIT_READERS", "sim")
        argv: tuple[str, ...] = ("readers",)
    else:
        argv = ("readers", "--driver", "sim")
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert "simulator reader driver (PERMIT_READERS=sim) is refused" in one_line(err)


@pytest.mark.parametrize("command", [("verify",), ("endorse",), ("terminate",)])
def test_production_refuses_the_simulator_driver_for_workflows(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: tuple[str, ...],
) -> None:
    monkeypatch.setenv("PERMIT_ENV", "production")
    monkeypatch.setenv("PERMIT_READERS", "sim")
    monkeypatch.setenv("PERMIT_AUTHORITY_CODE", "330106")
    monkeypatch.setenv("PERMIT_DATABASE_URL", f"sqlite:///{tmp_path / 'register.db'}")
    code, out, err = run(capsys, *command, "--reader", "Permit Sim Reader 0")
    assert code == 2 and out == ""
    assert "PERMIT_READERS=sim) is refused when PERMIT_ENV=production" in one_line(err)


def test_development_allows_the_simulator(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for value in (None, "development"):
        if value is not None:
            monkeypatch.setenv("PERMIT_ENV", value)
        code, out, _ = run(capsys, "readers", "--driver", "sim", "--json")
        assert code == 0 and "Permit Sim Reader 0" in out
        code, _, err = run(capsys, "sim", "list")  # reaches the command: no simulator running
        assert code == 1 and "simulator not running" in err


@pytest.mark.parametrize(
    "argv", [("readers", "--driver", "sim"), ("sim", "list"), ("keys", "list"), ("readers",)]
)
def test_unknown_permit_env_is_refused_for_every_command(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
) -> None:
    monkeypatch.setenv("PERMIT_ENV", "prod")
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert "configuration error: PERMIT_ENV must be development or production" in one_line(err)


def test_real_process_exit_code(tmp_path: Path) -> None:
    env = dict(os.environ, PERMIT_HOME=str(tmp_path), PYTHONPATH=str(ROOT), PERMIT_ENV="production")
    argv = [sys.executable, "-m", "api.cli", "sim", "start"]
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert (
        proc.stderr.startswith("permit: `permit sim` is refused") and proc.stderr.count("\n") == 1
    )
    env["PERMIT_ENV"] = "staging"
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "'staging'" in proc.stderr
