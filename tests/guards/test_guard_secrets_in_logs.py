"""No key, PIN or PUK reaches the logs - at the lowest level, tracebacks included - in a card
session with the issuer channel, in the issuance and endorsement workflows (failures
included) and in ``permit issue -vv``.  See tests/secretlog.py for what is searched and how
new kinds of secret are added (one list, ``HARVESTERS``).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from api.cli import main
from card_service.card.errors import CardError
from card_service.card.scp03 import diversify_card_keys
from card_service.card.session import PermitCardSession
from card_service.card.wire import FileId
from card_service.workflows.endorsement import endorse_card
from card_service.workflows.issuance import IssuanceError
from keys.pki import KeyManager
from reader_drivers.errors import ReaderError
from reader_drivers.sim import SimReaderDriver
from simulators.card import SimulatedCard
from tests.dbfixtures import KEY_PASSPHRASE, NOW
from tests.secretlog import SecretLog, card_secrets
from tests.workflows.conftest import World

CHANNEL = ["static_enc", "static_mac", "static_dek", "s_enc", "s_mac", "s_rmac"]
PERSONAL = ["pin", "puk", "pin_block", "puk_block"]
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "application.json"


def test_card_session_with_the_issuer_channel(secret_log: SecretLog) -> None:
    master = os.urandom(16)
    secret_log.secret("master_key", master)
    card = SimulatedCard.manufacture(master_keys={1: master}, kvn=1, durable=False)
    driver = SimReaderDriver(slots=1)
    reader = driver.insert(0, card)
    conn = driver.connect(reader)
    session = PermitCardSession(conn)
    session.select()
    session.open_issuer_channel(lambda serial, kvn: diversify_card_keys(master, serial, kvn))
    session.begin_personalisation()
    session.generate_card_key()
    session.write_file(FileId.RECORD, os.urandom(700))  # chained/extended, wrapped
    session.set_pin("482913")
    session.set_puk("73920184")
    assert len(session.read_file(FileId.RECORD)) == 700
    session.internal_authenticate(os.urandom(32))
    # failure paths log too: a wrong PIN, a wrong issuer key, a power cut in the channel
    with pytest.raises(CardError):
        session.verify_pin("000000")
    with pytest.raises(CardError):
        session.open_issuer_channel(diversify_card_keys(os.urandom(16), card.serial, 1))
    session.open_issuer_channel(lambda serial, kvn: diversify_card_keys(master, serial, kvn))
    card.faults.cut_power(after_apdus=1, phase="mid")
    with pytest.raises((CardError, ReaderError)):
        session.set_pin("582913")
    conn.disconnect()
    card_secrets(secret_log, card)
    secret_log.assert_clean(require=[*CHANNEL, *PERSONAL, "master_key", "card_card_key"])


def test_issuance_and_endorsement_workflows(world: World, secret_log: SecretLog) -> None:
    secret_log.secret("master_key", world.master_key)
    card = world.new_card()
    reader = world.driver.insert(0, card)
    app, app_id = world.application()
    result = world.workflow().issue(app, app_id, reader, NOW)
    assert result.pin is not None
    due = world.register.permit(result.permit_number).first_endorsement_due
    when = dt.datetime.combine(due - dt.timedelta(days=10), dt.time(2, 0), tzinfo=dt.UTC)
    endorse_card(world.register, world.issuer_at(when), world.cards, reader, when)
    card_secrets(secret_log, card)
    # a failed issuance (power cut while writing the PIN) and its retry
    torn = world.new_card()
    world.driver.remove(0)
    reader = world.driver.insert(0, torn)
    app, app_id = world.application()
    torn.faults.cut_power(after_apdus=14, phase="mid")
    with pytest.raises((IssuanceError, ReaderError)):
        world.workflow().issue(app, app_id, reader, NOW)
    torn.faults.clear()
    world.driver.remove(0)
    reader = world.driver.insert(0, torn)
    world.workflow().issue(app, app_id, reader, NOW)
    card_secrets(secret_log, torn)
    secret_log.assert_clean(require=[*CHANNEL, *PERSONAL, "master_key", "card_card_key"])


def test_permit_issue_cli_at_debug(
    world: World,
    db_url: str,
    key_manager: KeyManager,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    secret_log: SecretLog,
) -> None:
    """``permit -vv issue`` in process (sim driver): its logs and stderr hold no secret; the
    PIN and PUK appear once, on stdout, in the PIN letter line only."""
    secret_log.secret("key_passphrase", KEY_PASSPHRASE)
    serial = os.urandom(8)
    keys = key_manager.card_keys(serial)
    card = SimulatedCard.manufacture_with_keys(
        kvn=key_manager.active_kvn(),
        serial=serial,
        k_enc=keys.enc,
        k_mac=keys.mac,
        k_dek=keys.dek,
        durable=False,
    )
    driver = SimReaderDriver(slots=1)
    reader = driver.insert(0, card)
    monkeypatch.setenv("PERMIT_HOME", str(Path(key_manager.settings.directory).parent))
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", KEY_PASSPHRASE)
    monkeypatch.setenv("PERMIT_DATABASE_URL", db_url)
    monkeypatch.setenv("PERMIT_AUTHORITY_CODE", "330106")
    monkeypatch.setattr("card_service.office.cards.get_driver", lambda *a, **k: driver)
    monkeypatch.setattr("api.cli.workflows._now", lambda: NOW + dt.timedelta(minutes=1))
    assert main(["-vv", "issue", "--reader", reader, str(EXAMPLE)]) == 0
    out = capsys.readouterr()
    secret_log.add_text(out.err)
    letter = [line for line in out.out.splitlines() if line.startswith("PIN letter:")]
    assert len(letter) == 1
    secret_log.add_text("\n".join(line for line in out.out.splitlines() if line not in letter))
    card_secrets(secret_log, card)
    secret_log.assert_clean(require=[*CHANNEL, *PERSONAL, "card_card_key", "key_passphrase"])
