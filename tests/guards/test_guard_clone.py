"""Clone detection end to end: a byte copy of a genuine record (and the genuine serial) on a
card that does not hold the record's device key is CLONED - at the counter (``verify_card``),
in ``permit verify`` and in the issuance read-back.

Guards INTERNAL AUTHENTICATE and ``require_card_proof=True`` in
``card_service/workflows/cardops.py``: without the fresh-challenge card proof every check
below sees a VALID record, the right serial and matching register digests.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from sqlmodel import Session, select

from api.cli import main
from card_service.card.access import CardAccess
from card_service.card.wire import LifeCycle
from card_service.record import Verdict, Verifier
from card_service.register.models import Permit, PermitState
from card_service.workflows import IssuanceWorkflow, IssuerContext
from card_service.workflows.issuance import IssuanceError
from card_service.workflows.progress import Step
from card_service.workflows.verify import register_revocation, verify_card
from keys.pki import KeyManager
from reader_drivers.sim import SimReaderDriver
from simulators.card import SimulatedCard
from tests.dbfixtures import KEY_PASSPHRASE, NOW
from tests.guards.cards import clone_card, issue_genuine, swap_card_key
from tests.workflows.conftest import World


def _maker(world: World):  # type: ignore[no-untyped-def]
    def make(serial: bytes) -> SimulatedCard:
        return SimulatedCard.manufacture(
            master_keys={world.kvn: world.master_key}, kvn=world.kvn, serial=serial, durable=False
        )

    return make


def test_verify_card_says_cloned_for_a_copied_record(world: World) -> None:
    genuine = world.new_card()
    number = issue_genuine(world, world.driver, genuine, 0)
    reader = world.driver.reader_names[0]
    verifier = Verifier(world.issuer.trust, revocation=register_revocation(world.register))
    control = verify_card(world.cards, reader, verifier, NOW, register=world.register)
    assert control.passed, control.problems

    clone, reader = clone_card(world.issuer, NOW, world.driver, genuine, _maker(world))
    assert clone.life_cycle is LifeCycle.ISSUED and clone.serial == genuine.serial

    offline = verify_card(world.cards, reader, Verifier(world.issuer.trust), NOW)
    assert not offline.passed
    assert offline.result is not None and offline.result.verdict is Verdict.CLONED
    assert offline.problems == ("record_cloned",)

    counter = verify_card(world.cards, reader, verifier, NOW, register=world.register)
    assert not counter.passed
    assert counter.result is not None and counter.result.verdict is Verdict.CLONED
    assert counter.problems == ("record_cloned",)
    assert counter.permit_number == number


def test_issuance_read_back_refuses_a_card_without_the_record_key(world: World) -> None:
    """The card reports one public key at GENERATE and then signs with another (an emulator
    forwarding the genuine chip's GENERATE answer): the read-back proof fails, nothing is
    marked issued and the card is not locked."""
    card = world.new_card()
    reader = world.driver.insert(0, card)
    app, app_id = world.application()

    def hook(step: Step) -> None:
        if step is Step.VERIFY:
            swap_card_key(card)

    with pytest.raises(IssuanceError) as info:
        world.workflow(hook=hook).issue(app, app_id, reader, NOW)
    assert info.value.code == "verify_failed"
    assert card.life_cycle is LifeCycle.PERSONALISING
    with Session(world.engine) as session:
        permits = list(session.exec(select(Permit)))
    assert [p.state for p in permits] == [PermitState.ABANDONED]
    assert all(p.issued_at is None for p in permits)


def test_permit_verify_cli_says_cloned(
    world: World,
    db_url: str,
    key_manager: KeyManager,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``permit verify --json`` (in process, the sim driver holding the cards) on the genuine
    card passes, on its clone exits 1 with verdict CLONED."""
    issuer = IssuerContext.from_key_manager(key_manager, NOW)
    driver = SimReaderDriver(slots=2)

    def make(serial: bytes) -> SimulatedCard:
        keys = key_manager.card_keys(serial)
        return SimulatedCard.manufacture_with_keys(
            kvn=key_manager.active_kvn(),
            serial=serial,
            k_enc=keys.enc,
            k_mac=keys.mac,
            k_dek=keys.dek,
            durable=False,
        )

    genuine = make(os.urandom(8))
    reader = driver.insert(0, genuine)
    app, app_id = world.application()
    IssuanceWorkflow(world.register, issuer, CardAccess(driver)).issue(app, app_id, reader, NOW)

    home = Path(key_manager.settings.directory).parent
    monkeypatch.setenv("PERMIT_HOME", str(home))
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", KEY_PASSPHRASE)
    monkeypatch.setenv("PERMIT_DATABASE_URL", db_url)
    monkeypatch.setenv("PERMIT_AUTHORITY_CODE", "330106")
    monkeypatch.setattr("card_service.office.cards.get_driver", lambda *a, **k: driver)
    monkeypatch.setattr("api.cli.workflows._now", lambda: NOW + dt.timedelta(minutes=1))

    assert main(["verify", "--reader", reader, "--json"]) == 0
    passed = json.loads(capsys.readouterr().out)
    assert passed["passed"] is True and passed["record"]["verdict"] == "VALID"

    _clone, reader = clone_card(issuer, NOW, driver, genuine, make)
    assert main(["verify", "--reader", reader, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is False
    assert out["record"]["verdict"] == "CLONED"
    assert out["problems"] == ["record_cloned"]
    assert out["card_serial"] == genuine.serial.hex().upper()
