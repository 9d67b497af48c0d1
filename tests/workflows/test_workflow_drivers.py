"""Issue and fully verify through each transport: the sim driver and real PC/SC (pcscd+vpcd)."""

from __future__ import annotations

from pathlib import Path

from card_service.card.access import CardAccess
from card_service.card.wire import LifeCycle
from card_service.record import Verifier
from card_service.workflows import IssuanceWorkflow, IssuerContext
from card_service.workflows.verify import register_revocation, verify_card
from tests.conftest import CardEnv
from tests.workflows.conftest import NOW, make_world


def test_issue_and_verify_through_the_driver(card_env: CardEnv, tmp_path: Path) -> None:
    from card_service.card.scp03 import StaticKeys, diversify_card_keys

    world = make_world(f"sqlite:///{tmp_path / 'register.db'}")

    def keys(serial: bytes, kvn: int) -> StaticKeys:
        return diversify_card_keys(card_env.master_key, serial, kvn)

    issuer = IssuerContext(
        keys, world.issuer.signer_key, world.issuer.signer_chain, world.issuer.trust
    )
    app, app_id = world.application()
    cards = CardAccess(card_env.driver)
    workflow = IssuanceWorkflow(world.register, issuer, cards)
    result = workflow.issue(app, app_id, card_env.reader, NOW)
    assert card_env.card.life_cycle is LifeCycle.ISSUED
    verifier = Verifier(issuer.trust, revocation=register_revocation(world.register))
    check = verify_card(cards, card_env.reader, verifier, NOW, register=world.register)
    assert check.passed, check.problems
    assert check.permit_number == result.permit_number
    world.engine.dispose()
