"""Raw ASGI requests for the attack tests: what an HTTP client library would refuse to send
(CRLF in a header, two ``Authorization`` headers, dot segments, a lying ``Content-Length``,
a body that stops arriving) reaches the app exactly as written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.types import ASGIApp, Message

__all__ = ["RawResponse", "raw_request"]


@dataclass
class RawResponse:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name]


def raw_request(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    chunks: Sequence[bytes] = (b"",),
    stall: bool = False,
    raw_path: bytes | None = None,
    scope_type: str = "http",
) -> RawResponse:
    """Send one request to ``app``: the body as ``chunks`` (the last without
    ``more_body``), or, with ``stall``, the chunks and then nothing ever again (a client
    that stopped sending mid-body)."""
    response = RawResponse()
    done = anyio.Event()

    async def main() -> None:
        scope: dict[str, Any] = {
            "type": scope_type,
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": raw_path if raw_path is not None else path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in headers],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        pending = list(chunks)

        connected = scope_type != "websocket"

        async def receive() -> Message:
            nonlocal connected
            if not connected:
                connected = True
                return {"type": "websocket.connect"}
            if pending and scope_type == "http":
                chunk = pending.pop(0)
                more = bool(pending) or stall
                return {"type": "http.request", "body": chunk, "more_body": more}
            if stall:
                await anyio.sleep_forever()
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.status = int(message["status"])
                response.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                response.body += bytes(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()
            elif message["type"] == "websocket.close":
                response.status = response.status or -int(message.get("code", 1000))
                done.set()
            elif message["type"] == "websocket.accept":
                response.status = 101
                done.set()

        with anyio.fail_after(30):  # a hung app fails the test instead of hanging it
            await app(scope, receive, send)
        done.set()

    anyio.run(main)
    return response
