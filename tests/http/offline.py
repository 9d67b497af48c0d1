"""Helpers of the offline-verification tests: the real app served by uvicorn on a loopback
port, a bank's office (no key store, no register) whose reader holds the card, and a clock
shared by the service and the commands."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from api.cli import trust as trust_cli
from api.cli import workflows as workflows_cli
from card_service.card.access import CardAccess
from card_service.office import EphemeralOffice, Office, Settings
from tests.conftest import wait_until

__all__ = ["Clock", "bank_office", "serve"]


class Clock:
    """One clock for the service and the commands (no waiting for time)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (a port of its own); yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=20, what="uvicorn started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


class _Borrowed:
    def __init__(self, office: Office) -> None:
        self.office = office

    def __enter__(self) -> Office:
        return self.office

    def __exit__(self, *exc: Any) -> None:
        self.office.close()


def bank_office(
    monkeypatch: pytest.MonkeyPatch, home: Path, issuer: EphemeralOffice, clock: Clock
) -> None:
    """Every command of this test runs as the bank: an office of its own settings (a
    ``PERMIT_HOME`` with no keys and no register, ``PERMIT_READERS=sim``) whose card
    reader is the issuing office's simulated one (the card moved to the bank's desk)."""
    env = {"PERMIT_HOME": str(home), "PERMIT_READERS": "sim"}

    def open_office(**_: Any) -> _Borrowed:
        cards = CardAccess(issuer.station.driver)
        return _Borrowed(Office(Settings.from_env(env), cards=cards))

    for module in (workflows_cli, trust_cli):
        monkeypatch.setattr(module, "open_office", open_office)
        monkeypatch.setattr(module, "_now", clock)
