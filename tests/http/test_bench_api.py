"""bench/api.py runs end to end in a tiny mode and prints one JSON line with every field
(throughput and latencies are not checked: tests make no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared_state.conftest import redis_url  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "api.py"),
            "--requests",
            "20",
            "--rounds",
            "1",
            *args,
        ],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PERMIT_")}, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result: dict[str, object] = json.loads(lines[0])
    return result


def _check(result: dict[str, object], workers: list[str]) -> None:
    assert result["bench"] == "api" and result["connections"] == 64
    assert result["errors"] == 0  # every full answer VALID, every bare answer true
    measured = result["workers"]
    assert isinstance(measured, dict) and sorted(measured) == workers
    for run in measured.values():
        for kind in ("full", "bare"):
            part = run[kind]
            assert part["requests"] == 20 and part["errors"] == 0
            assert part["per_s"] > 0 and 0 < part["p50_ms"] <= part["p99_ms"]
        assert run["ratio"] == round(run["full"]["per_s"] / run["bare"]["per_s"], 3)
    assert result["ratio"] == min(r["ratio"] for r in measured.values())
    assert result["target_met"] == (result["ratio"] >= result["target_ratio"])


def test_one_worker_in_memory() -> None:
    _check(_run("--workers", "1", "--memory"), ["1"])


def test_two_workers_on_redis(redis_url: str) -> None:  # noqa: F811
    result = _run("--workers", "2", env={"PERMIT_BENCH_REDIS": redis_url})
    assert result["shared_state"] == "redis"
    _check(result, ["2"])


def test_the_bare_endpoint_is_not_in_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's own factory has no bench route (only bench/api.py mounts it)."""
    from fastapi.testclient import TestClient

    from api.http.main import app_from_env

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("PERMIT_HOME", str(home))
    app = app_from_env()
    assert not [r for r in app.routes if getattr(r, "path", "").startswith("/bench")]
    with TestClient(app) as client:
        assert client.post("/bench/signatures", content=b"{}").status_code == 401
