"""No PIN, PUK, key or cryptogram bytes in logs, reprs or exception messages."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

from card_service.card.errors import SecureChannelError, WrongPin
from card_service.card.scp03 import diversify_card_keys
from card_service.card.session import PermitCardSession
from card_service.card.wire import FileId

PIN, PUK = "864297", "53197531"


def forbidden(master_key: bytes, serial: bytes, kvn: int) -> list[str]:
    keys = diversify_card_keys(master_key, serial, kvn)
    out = [PIN, PUK, "3836343239", "3533313937"]
    for secret in (master_key, keys.enc, keys.mac, keys.dek):
        out += [secret.hex(), secret.hex().upper(), secret[:6].hex(), repr(secret)[2:14]]
    return out


def run_personalisation(target: Any) -> list[str]:
    """A full personalisation plus some failures; returns every text produced."""
    conn = target.connect()
    s = PermitCardSession(conn)
    texts = [repr(s)]
    s.select()
    with pytest.raises(SecureChannelError) as bad:
        s.open_issuer_channel(lambda serial, kvn: diversify_card_keys(os.urandom(16), serial, kvn))
    texts.append(str(bad.value))
    s.open_issuer_channel(lambda serial, kvn: diversify_card_keys(target.master_key, serial, kvn))
    texts.append(repr(s._channel))
    s.begin_personalisation()
    s.generate_card_key()
    s.write_file(FileId.RECORD, os.urandom(1000))
    s.set_pin(PIN)
    s.set_puk(PUK)
    s.lock()
    s.select()
    with pytest.raises(WrongPin) as wrong:
        s.verify_pin("864298")
    texts.append(str(wrong.value))
    s.verify_pin(PIN)
    s.change_pin(PIN, PIN)
    s.unblock_pin(PUK, PIN)
    with pytest.raises(ValueError) as invalid:
        s.verify_pin(PIN + "12345")
    texts.append(str(invalid.value))
    return texts


def check(target: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(1):
        texts = run_personalisation(target)
    assert len(caplog.records) > 20, "expected the protocol to log at debug level"
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.args) for r in caplog.records]
    everything = "\n".join(texts)
    for secret in forbidden(target.master_key, target.card.serial, target.kvn):
        assert secret not in everything, f"secret material leaked: {secret!r}"


def test_no_secrets_in_logs_direct(direct_card: Any, caplog: pytest.LogCaptureFixture) -> None:
    check(direct_card, caplog)


def test_no_secrets_in_logs_through_drivers(
    card_env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    check(card_env, caplog)


def test_root_logger_level_one_sees_host_records(
    direct_card: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(1):
        PermitCardSession(direct_card.connect()).select()
    assert any(r.name.startswith("card_service.card") for r in caplog.records)
    assert all(r.levelno <= logging.INFO for r in caplog.records)
