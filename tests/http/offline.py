"""Helpers of the offline-verification tests: the real app served by uvicorn on a loopback
port, a bank's office (no key store, no register) whose reader holds the card, and a clock
shared by the service and the commands."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import FastAPI

from api.cli import trust as trust_cli
from api.cli import workflows as workflows_cli
from card_service.card.access import CardAccess
from card_service.office import EphemeralOffice, Office, Settings, TrustDocument
from tests.conftest import wait_until

__all__ = ["Clock", "bank_office", "publish_trust", "serve"]


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


def publish_trust(office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let ``office`` (run-time keys, no key store) answer ``GET /v1/trust`` with its
    sandbox's trust list in the export-trust format: root, a CRL issued at ``now``, the
    document signer, each with its SHA-256 (what a keyed office serves)."""

    def trust_document(now: dt.datetime) -> TrustDocument:
        pki = office.station.pki
        crl = pki.crl(now)
        next_update = crl.next_update_utc
        assert next_update is not None
        pems = {
            "root-0001.pem": pki.root_certificate.public_bytes(Encoding.PEM),
            "signer-ephemeral.pem": office.station.issuer.signer_chain[0].public_bytes(
                Encoding.PEM
            ),
            "crl.pem": crl.public_bytes(Encoding.PEM),
        }

        def entry(name: str, **extra: object) -> dict[str, object]:
            return {"file": name, "sha256": hashlib.sha256(pems[name]).hexdigest(), **extra}

        manifest: dict[str, Any] = {
            "format": "permit-trust-v1",
            "generated_at": now.isoformat(),
            "roots": [entry("root-0001.pem", id="root-0001")],
            "signers": [entry("signer-ephemeral.pem", id="ephemeral", role="document")],
            "audit_signers": [],
            "crl": entry("crl.pem", number=1, next_update=next_update.isoformat()),
        }
        files = {name: data.decode("ascii") for name, data in pems.items()}
        return TrustDocument(manifest, files, next_update)

    monkeypatch.setattr(office, "trust_document", trust_document)
