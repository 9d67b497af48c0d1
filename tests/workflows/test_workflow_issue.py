"""Issuance happy path, progress events, verification of the issued card."""

from __future__ import annotations

from card_service.card.wire import LifeCycle
from card_service.register.models import PermitState
from card_service.workflows import IssuanceWorkflow, ProgressEvent
from card_service.workflows.progress import ISSUANCE_STEPS
from keys.pki import KeyManager
from tests.dbfixtures import key_manager
from tests.workflows.conftest import NOW, World

__all__ = ["key_manager"]


def test_issue_onto_a_blank_card(world: World) -> None:
    card = world.new_card()
    reader = world.driver.insert(0, card)
    app, app_id = world.application()
    events: list[ProgressEvent] = []
    result = world.workflow(on_progress=events.append).issue(app, app_id, reader, NOW)
    assert card.life_cycle is LifeCycle.ISSUED
    view = world.register.permit(result.permit_number)
    assert view.state is PermitState.ISSUED
    assert view.record_digest == result.digests.record
    assert result.pin is not None and len(result.pin) == 6
    assert result.pin not in repr(result)
    started = [e.step.value for e in events if e.status == "started"]
    assert started == [s.value for s in ISSUANCE_STEPS]
    assert events[-1].status == "done"


def test_documented_example_application_loads() -> None:
    from pathlib import Path

    from card_service.workflows import load_application

    app = load_application(Path(__file__).parents[2] / "docs" / "examples" / "application.json")
    assert app.portrait.startswith(b"\xff\xd8")
    assert "redacted" in repr(app)


def test_issue_with_the_configured_key_store(world: World, key_manager: KeyManager) -> None:
    """The CLI path: signer, chain, trust and per-card SCP03 keys from ``KeyManager``."""
    import os

    from card_service.workflows import IssuerContext
    from simulators.card import SimulatedCard

    issuer = IssuerContext.from_key_manager(key_manager, NOW)
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
    reader = world.driver.insert(0, card)
    app, app_id = world.application()
    workflow = IssuanceWorkflow(world.register, issuer, world.cards)
    result = workflow.issue(app, app_id, reader, NOW)
    assert card.life_cycle is LifeCycle.ISSUED
    assert world.register.permit(result.permit_number).state is PermitState.ISSUED
