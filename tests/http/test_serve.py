"""``permit serve`` runs uvicorn with uvloop and httptools (with the plain asyncio loop and
several workers, keep-alive requests take about 44 ms each): the configuration says so, and
the worker processes of a running ``permit serve --workers 2`` have both loaded.  (The speed
itself is measured by bench/serve_keepalive.py: tests make no timing assertions.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
import uvloop

from api.cli import build_parser
from api.cli.serve import uvicorn_options
from api.http.main import APP_FACTORY

ROOT = Path(__file__).resolve().parents[2]


def test_the_config_permit_serve_builds() -> None:
    args = build_parser().parse_args(["serve", "--port", "0", "--workers", "2"])
    options = uvicorn_options(args.host, args.port, args.workers)
    assert options["app"] == APP_FACTORY and options["factory"] is True
    config = uvicorn.Config(**options)
    assert (config.loop, config.http, config.workers) == ("uvloop", "httptools", 2)
    assert config.get_loop_factory() is uvloop.new_event_loop
    config.load()
    assert config.http_protocol_class.__module__ == "uvicorn.protocols.http.httptools_impl"
    assert config.access_log is False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            todo.extend(children)
    return found


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_a_running_server_s_workers_use_uvloop_and_httptools(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PERMIT_")},
        "PYTHONPATH": str(ROOT),
        "PERMIT_HOME": str(tmp_path / "home"),
        "PERMIT_READERS": "sim",
    }
    (tmp_path / "home").mkdir(mode=0o700)
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        with httpx.Client(timeout=5.0) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get(url).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "permit serve did not start"
                time.sleep(0.2)
            answers = [client.get(url) for _ in range(50)]  # one keep-alive connection
        assert all(a.status_code == 200 and a.headers["x-request-id"] for a in answers)
        workers = [
            pid
            for pid in _descendants(server.pid)
            if "uvloop/loop" in _maps(pid) and "httptools" in _maps(pid)
        ]
        assert len(workers) >= 2, "workers without uvloop and httptools"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
