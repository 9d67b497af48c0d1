"""The real service on a loopback port: uvicorn (the event loop, HTTP parser and options of
``permit serve``) in a thread of the test process, over an app whose clock the test holds,
so the status list's rebuild interval is crossed by moving the clock, never by sleeping."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from api.cli.serve import uvicorn_options
from tests.conftest import wait_until

__all__ = ["Clock", "LiveServer", "sse_stream"]


class Clock:
    """The app's ``now``: fixed until the test moves it."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self.now += delta
        return self.now


@dataclass
class LiveServer:
    """``app`` served by uvicorn on 127.0.0.1 (an ephemeral port) until :meth:`stop`."""

    app: FastAPI
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    base_url: str = ""

    def start(self) -> LiveServer:
        options = uvicorn_options("127.0.0.1", 0, 1)
        # the app object itself instead of the factory over the environment's office
        for key in ("app", "factory", "workers", "host", "port"):
            options.pop(key)
        config = uvicorn.Config(self.app, log_level="warning", **options)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.server = server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="permit-e2e-uvicorn", daemon=True
        )
        self.thread.start()
        wait_until(lambda: server.started, timeout=20, what="uvicorn started")
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=20)
            assert not self.thread.is_alive(), "uvicorn did not stop"

    def client(self, key: str | None = None) -> httpx.Client:
        """An HTTP client of the service, with ``key`` as its bearer API key."""
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60.0)


def sse_stream(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """The (event, data) pairs of a server-sent event stream, as they arrive."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "event" in fields:
                yield fields["event"], json.loads(fields.get("data", "null"))
            fields = {}
        elif not line.startswith(":") and ": " in line:
            name, value = line.split(": ", 1)
            fields[name] = value
