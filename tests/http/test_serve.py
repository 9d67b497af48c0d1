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


def _worker_env(pid: int, name: str) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in environ:
        key, _, value = item.partition(b"=")
        if key.decode(errors="replace") == name:
            return value.decode()
    return None


def _healthz_count(text: str) -> float:
    wanted = 'permit_http_requests_total{method="GET",route="/healthz",status="200"}'
    for line in text.splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_metrics_aggregate_every_worker(tmp_path: Path) -> None:
    """``permit serve --workers 2``: /metrics counts every request, whichever worker
    answered it and whichever worker answers the scrape; the multiprocess directory is
    private and gone once the service has stopped."""
    from concurrent.futures import ThreadPoolExecutor

    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PERMIT_", "PROMETHEUS_"))},
        "PYTHONPATH": str(ROOT),
        "PERMIT_HOME": str(tmp_path / "home"),
        "PERMIT_READERS": "sim",
    }
    (tmp_path / "home").mkdir(mode=0o700)
    command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    requests = 60
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "permit serve did not start two workers"
            workers = [
                pid
                for pid in _descendants(server.pid)
                if _worker_env(pid, "PROMETHEUS_MULTIPROC_DIR")
            ]
            time.sleep(0.2)
        directory = Path(str(_worker_env(workers[0], "PROMETHEUS_MULTIPROC_DIR")))
        assert directory.is_dir() and directory.stat().st_mode & 0o777 == 0o700

        def fresh(path: str) -> httpx.Response:  # a new connection: any worker may answer
            with httpx.Client(timeout=5.0) as client:
                return client.get(url + path)

        while True:  # ready: both workers answer (the first one up may answer alone)
            try:
                fresh("/readyz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "permit serve did not answer"
                time.sleep(0.2)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(fresh, ["/healthz"] * requests))
        assert all(a.status_code == 200 for a in answers)
        # both workers answered some (each writes its own sample files)
        writers = {f.stem.rsplit("_", 1)[-1] for f in directory.glob("counter_*.db")}
        assert len(writers) >= 2, writers
        scrapes = [fresh("/metrics") for _ in range(6)]
        for scrape in scrapes:
            assert scrape.status_code == 200
            assert _healthz_count(scrape.text) == requests
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert not directory.exists()
