"""Bad input through the ``permit`` entry point: one line on stderr, non-zero exit, no traceback.

These go through :func:`api.cli.main` (argument parsing included), so a traceback would
surface as an exception out of ``main`` or as ``Traceback`` in the captured output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from api.cli import main
from card_service.workflows.application import synthetic_application
from tests.record.conftest import SIGNED

DEEP = 100_000


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("PERMIT_KEY", "PERMIT_PKCS11", "PERMIT_DATABASE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PERMIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PERMIT_DATABASE_URL", f"sqlite:///{tmp_path / 'register.db'}")
    return tmp_path


def one_line_failure(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != 0, (argv, out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("permit: ")
    return lines[0]


def bad_files(tmp: Path) -> dict[str, Path]:
    deep = tmp / "deep.json"
    deep.write_text("[" * DEEP + "]" * DEEP)
    deep_obj = tmp / "deep_obj.json"
    deep_obj.write_text('{"a":' * DEEP + "1" + "}" * DEEP)
    latin = tmp / "latin1.json"
    latin.write_bytes('{"format": "permit-application/1", "x": "Müller"}'.encode("latin-1"))
    huge_int = tmp / "huge_int.json"
    huge_int.write_text('{"format": ' + "9" * 10_000 + "}")
    nan = tmp / "nan.json"
    nan.write_text('{"format": NaN}')
    big = tmp / "big.bin"
    big.write_bytes(b"\xa0" * (1 << 20))
    return {
        "deep": deep,
        "deep_obj": deep_obj,
        "latin1": latin,
        "huge_int": huge_int,
        "nan": nan,
        "big": big,
        "dev_zero": Path("/dev/zero"),
        "directory": tmp,
        "missing": tmp / "missing.json",
    }


@pytest.mark.parametrize(
    "name", ["deep", "deep_obj", "latin1", "huge_int", "nan", "big", "dev_zero", "directory",
             "missing"],
)  # fmt: skip
def test_bad_application_file(env: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = bad_files(env)[name]
    line = one_line_failure(["issue", "--reader", "none", str(path)], capsys)
    assert "application" in line.lower()
    assert not (env / "register.db").exists()  # refused before the register is opened


@pytest.mark.parametrize("name", ["deep", "latin1", "big", "dev_zero", "directory", "missing"])
@pytest.mark.parametrize("option", ["FILE", "--endorsements"])
def test_bad_record_files(
    env: Path, tmp_path: Path, name: str, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bad_files(env)[name]
    trust = tmp_path / "no-trust"
    trust.mkdir(exist_ok=True)
    if option == "FILE":
        argv = ["record", "verify", str(path), "--trust", str(trust)]
    else:
        record = tmp_path / "r.cbor"
        record.write_bytes(b"\xa0")
        argv = ["record", "verify", str(record), "--endorsements", str(path), "--trust", str(trust)]
    one_line_failure(argv, capsys)


@pytest.mark.parametrize(
    "when",
    ["0001-01-01T00:00:00+00:00", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59+00:00",
     "9999-12-31T23:00:00-12:00", "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "noon",
     "2026-01-01T00:00:00"],
)  # fmt: skip
def test_out_of_range_instants(env: Path, when: str, capsys: pytest.CaptureFixture[str]) -> None:
    record = env / "r.cbor"
    record.write_bytes(b"\xa0")
    one_line_failure(["record", "verify", str(record), "--now", when], capsys)
    one_line_failure(
        ["revoke", "3101153797265611", "--reason", "lost", "--effective", when], capsys
    )


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e308", "soon"])
def test_bad_durations(env: Path, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_failure(["reconcile", "--older-than", value], capsys)


@pytest.mark.parametrize("number", ["31011\x1b[2J", "", "x" * 100, "31\u202e01", "3101 1"])
def test_bad_permit_numbers(env: Path, number: str, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_failure(["revoke", number, "--reason", "lost"], capsys)
    one_line_failure(["register", "show", number], capsys)


def test_duplicate_keys_in_application(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = synthetic_application(SIGNED, seed=3).to_json()
    text = json.dumps(doc, ensure_ascii=False)
    # "last one wins" would take the second, harmless-looking name
    forged = text.replace('"full_name": ', '"full_name": "First", "full_name": ', 1)
    path = env / "dup.json"
    path.write_text(forged, encoding="utf-8")
    line = one_line_failure(["issue", "--reader", "none", str(path)], capsys)
    assert "duplicate key" in line and "full_name" in line
    assert not (env / "register.db").exists()
