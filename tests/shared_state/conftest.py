"""Fixtures: ``state`` runs a test on both backends (memory, Redis); ``redis_url`` is the
developers' and CI's Redis (127.0.0.1:6379, or ``$PERMIT_TEST_REDIS_URL``); every Redis test
works under a random key prefix and deletes its keys afterwards; ``private_redis`` is a
redis-server of the test's own (a free port, a temporary directory) that it may kill.

Without a reachable Redis the Redis cases skip; with ``PERMIT_REQUIRE_REDIS=1`` they fail, and
under ``PERMIT_REQUIRE_ALL=1`` (both set by .ci/run) every skip is a failure
(tests/require_all.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from card_service.shared_state import SharedState, in_memory, on_redis
from card_service.shared_state.model import DEFAULT_RATE_LIMITS, RateLimit, RateLimits

REDIS_URL_ENV = "PERMIT_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Small limits, so the tests reach them in a few hits.
LIMITS = RateLimits(
    default=RateLimit(5, 60), per_class={"status": RateLimit(2, 10), "verify": RateLimit(3, 1)}
)


def _reachable(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL)
    if not _reachable(url):
        reason = f"Redis is not reachable at {REDIS_URL_ENV} (run: make redis)"
        if os.environ.get("PERMIT_REQUIRE_REDIS"):
            pytest.fail(f"{reason} but PERMIT_REQUIRE_REDIS is set")
        pytest.skip(f"{reason}; set PERMIT_REQUIRE_REDIS=1 to make this an error")
    return url


def delete_prefix(url: str, prefix: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A random key prefix on ``redis_url``; the keys under it are deleted after the test."""
    value = f"permit-test:{uuid.uuid4().hex[:12]}:"
    yield value
    delete_prefix(redis_url, value)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def state(backend: str, request: pytest.FixtureRequest) -> Iterator[SharedState]:
    """The shared state on each backend, with :data:`LIMITS`."""
    if backend == "memory":
        shared = in_memory(LIMITS)
    else:
        url = request.getfixturevalue("redis_url")
        shared = on_redis(url, request.getfixturevalue("prefix"), LIMITS)
    try:
        yield shared
    finally:
        shared.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateRedis:
    """A redis-server of the test's own: no persistence, loopback only."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(  # our own fixture, a fixed argv
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _reachable(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the private redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = PrivateRedis(tmp_path, free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


__all__ = ["DEFAULT_RATE_LIMITS", "LIMITS", "PrivateRedis", "delete_prefix", "free_port"]
