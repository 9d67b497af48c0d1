"""VpcdBridge against a fake vpcd (a TCP server speaking the vpcd framing)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from card_service.card import wire
from simulators.vpcd import VpcdBridge
from tests.conftest import new_blank_card


class FakeVpcd:
    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.conn: socket.socket | None = None

    def listen(self) -> None:
        self.server.listen(1)

    def accept(self, timeout: float = 5.0) -> socket.socket:
        self.server.settimeout(timeout)
        self.conn, _ = self.server.accept()
        self.conn.settimeout(timeout)
        return self.conn

    def send(self, body: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(len(body).to_bytes(2, "big"))
        self.conn.sendall(body)  # vpcd writes length and body separately

    def recv(self) -> bytes:
        assert self.conn is not None
        head = self._exact(2)
        return self._exact(int.from_bytes(head, "big"))

    def _exact(self, n: int) -> bytes:
        assert self.conn is not None
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    fake = FakeVpcd()
    yield fake
    fake.close()


def test_bridge_waits_for_vpcd_then_serves(vpcd: FakeVpcd) -> None:
    card, _ = new_blank_card()
    bridge = VpcdBridge(card, port=vpcd.port, max_backoff=0.05).start()
    try:
        time.sleep(0.2)  # vpcd "not up yet": the bridge retries
        vpcd.listen()
        vpcd.accept()
        vpcd.send(b"\x04")
        assert vpcd.recv() == wire.atr()
        vpcd.send(b"\x01")  # power on: no answer
        vpcd.send(bytes.fromhex("0084000008"))
        response = vpcd.recv()
        assert len(response) == 10 and response[-2:] == b"\x90\x00"
        # malformed and odd messages do not kill the bridge
        vpcd.send(b"")
        vpcd.send(b"\x7f")  # unknown control code
        vpcd.send(b"\x00\xa4")  # too short for an APDU: the card says 6700
        assert vpcd.recv() == b"\x67\x00"
        vpcd.send(b"\x02")  # reset
        vpcd.send(bytes.fromhex("0084000004"))
        assert vpcd.recv()[-2:] == b"\x90\x00"
        assert bridge.connected
    finally:
        bridge.stop()
    assert not bridge.connected


def test_power_cut_closes_socket_until_insert(vpcd: FakeVpcd) -> None:
    vpcd.listen()
    card, _ = new_blank_card()
    bridge = VpcdBridge(card, port=vpcd.port).start()
    try:
        conn = vpcd.accept()
        vpcd.send(b"\x01")
        card.faults.cut_power(after_apdus=1, phase="mid")
        vpcd.send(bytes.fromhex("0084000008"))
        assert conn.recv(16) == b""  # closed: the card looks pulled
        assert bridge.wait_disconnected(2) and not bridge.inserted
        bridge.insert()
        vpcd.accept()
        assert bridge.wait_connected(2)
        vpcd.send(b"\x01")
        vpcd.send(bytes.fromhex("0084000008"))
        assert vpcd.recv()[-2:] == b"\x90\x00"
        bridge.remove()
        assert bridge.wait_disconnected(2)
    finally:
        bridge.stop()


def test_stop_while_connecting_is_prompt() -> None:
    card, _ = new_blank_card()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        bridge = VpcdBridge(card, port=port).start()
        time.sleep(0.1)
        t0 = time.monotonic()
        bridge.stop()
        assert time.monotonic() - t0 < 2
