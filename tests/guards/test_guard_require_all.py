"""``PERMIT_REQUIRE_ALL=1`` turns every kind of skip into a failure that names the reason
(tests/require_all.py); without it skips stay skips.  Run as a separate pytest with only the
plugin, on a throw-away test file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = """
import pytest

pytest.importorskip("no_such_module_for_permit", reason="module-level skip")


def test_never():
    pass
"""
CASES = """
import pytest


@pytest.fixture
def hsm():
    pytest.skip("softhsm2 is not installed")


def test_fixture_skip(hsm):
    pass


def test_call_skip():
    pytest.skip("openssl command not installed")


@pytest.mark.skipif(True, reason="needs root")
def test_marker_skip():
    pass


@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False


def test_pass():
    pass
"""


def _run(tmp_path: Path, body: str, required: bool) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "test_sample.py"
    path.write_text(body, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PERMIT_REQUIRE_ALL"}
    env["PYTHONPATH"] = str(ROOT)
    if required:
        env["PERMIT_REQUIRE_ALL"] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.require_all",
            "-p",
            "no:cacheprovider",
            "-rA",
            "-q",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            str(path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("required", [False, True])
def test_skips_fail_under_require_all(tmp_path: Path, required: bool) -> None:
    out = _run(tmp_path, CASES, required)
    summary = out.stdout.strip().splitlines()[-1]
    if required:
        assert out.returncode == 1, out.stdout
        # a skip in setup (fixture, marker) is reported as an error, in the call as a failure
        assert "1 failed, 1 passed, 1 xfailed, 2 errors" in summary, out.stdout
        for reason in ("softhsm2 is not installed", "openssl command not installed", "needs root"):
            assert f"PERMIT_REQUIRE_ALL is set (CI runs every test): {reason}" in out.stdout
    else:
        assert out.returncode == 0, out.stdout
        assert "1 passed, 3 skipped, 1 xfailed" in summary, out.stdout


def test_module_level_skip_fails_under_require_all(tmp_path: Path) -> None:
    out = _run(tmp_path, SAMPLE, True)
    assert out.returncode != 0, out.stdout
    assert "module-level skip" in out.stdout
    relaxed = _run(tmp_path, SAMPLE, False)
    assert relaxed.returncode == 5 and "1 skipped" in relaxed.stdout, relaxed.stdout
