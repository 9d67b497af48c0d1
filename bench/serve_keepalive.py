"""Keep-alive latency of ``permit serve``'s uvicorn setup against the plain asyncio loop.

Starts the service twice on loopback (``--workers 2``; uvloop + httptools as ``permit serve``
configures it, then asyncio + h11), sends ``REQUESTS`` sequential ``GET /healthz`` on one
keep-alive connection each, and prints one JSON line: the median latency of each and their
ratio (asyncio / uvloop; about 44 ms for asyncio with several workers was the regression).
Loopback only, bounded in time.  ``python bench/serve_keepalive.py``
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = 200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _median_ms(loop: str, http: str, home: Path) -> float:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PERMIT_")},
        "PYTHONPATH": str(ROOT),
        "PERMIT_HOME": str(home),
        "PERMIT_READERS": "sim",
    }
    command = [
        sys.executable, "-m", "uvicorn", "api.http.main:app_from_env", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
        "--loop", loop, "--http", http, "--no-access-log",
    ]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        with httpx.Client(timeout=5.0) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get(url)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            times = []
            for _ in range(REQUESTS):
                begun = time.perf_counter()
                client.get(url)
                times.append((time.perf_counter() - begun) * 1000)
        return statistics.median(times)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir(mode=0o700)
        fast = _median_ms("uvloop", "httptools", home)
        plain = _median_ms("asyncio", "h11", home)
    print(
        json.dumps(
            {
                "bench": "serve_keepalive",
                "workers": 2,
                "requests": REQUESTS,
                "uvloop_httptools_p50_ms": round(fast, 3),
                "asyncio_h11_p50_ms": round(plain, 3),
                "ratio_asyncio_over_uvloop": round(plain / fast, 2) if fast else None,
            }
        )
    )


if __name__ == "__main__":
    main()
