"""``PERMIT_REQUIRE_ALL=1`` (set by .ci/run): every skip is a failure, with its reason.

Tests skip when the machine lacks root, pcscd/vpcd, SoftHSM2, openssl or PostgreSQL; on a
developer's laptop that is convenient, on CI it would hide ~120 tests behind a green build.
Under ``PERMIT_REQUIRE_ALL`` a skipped test (``pytest.skip``, ``skipif``, ``importorskip``,
a skipped fixture, a skipped module at collection) is reported as failed; expected
failures (``xfail``) are left alone.  A hang is a failure already (pytest-timeout, and
tests never turn a ``TimeoutExpired`` into a skip without becoming a failure here).

Loaded by tests/conftest.py; usable alone as a plugin: ``pytest -p tests.require_all``.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

ENV = "PERMIT_REQUIRE_ALL"


def required() -> bool:
    return os.environ.get(ENV, "").strip() not in ("", "0")


def _reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail(report: pytest.CollectReport | pytest.TestReport) -> None:
    report.outcome = "failed"
    report.longrepr = f"skipped, but {ENV} is set (CI runs every test): {_reason(report.longrepr)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if required() and report.skipped and not hasattr(report, "wasxfail"):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if required() and report.skipped:
        _fail(report)


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"{ENV}=1: a skipped test is a failure" if required() else None
