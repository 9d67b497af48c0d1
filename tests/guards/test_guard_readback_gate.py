"""The read-back gate before ``mark_issued`` (``issuance_common.readback_problem`` and the
completeness check after it): one card (or application) per failure code, each answering
wrongly after the write; the workflow must refuse with that code, mark nothing issued
(the reservation is abandoned) and leave the card unlocked where it was not already.

Each case fails when ``readback_problem`` is reduced to ``return ""`` (except ``incomplete``, which
guards the card-info check next to it).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import pytest
from sqlmodel import Session, select

from card_service.card.wire import FileId, LifeCycle
from card_service.register.models import Permit, PermitState
from card_service.workflows.application import PermitApplication
from card_service.workflows.issuance import IssuanceError
from card_service.workflows.progress import Step
from simulators.card import SimulatedCard
from tests.dbfixtures import NOW
from tests.guards.cards import issue_genuine, read_record, rewrite_state, swap_card_key
from tests.workflows.conftest import World


class _OtherNumber(PermitApplication):
    """An application whose record content carries another (higher) permit number."""

    def permit_data(self, *, permit_number, card_serial, issue_date):  # type: ignore[no-untyped-def]
        return super().permit_data(
            permit_number=permit_number[:-6] + "999999",
            card_serial=card_serial,
            issue_date=issue_date,
        )


class _OtherSerial(PermitApplication):
    """An application whose record content names another card (a bug upstream of the gate)."""

    def permit_data(self, *, permit_number, card_serial, issue_date):  # type: ignore[no-untyped-def]
        return super().permit_data(
            permit_number=permit_number, card_serial=os.urandom(8), issue_date=issue_date
        )


def _other_record(world: World) -> bytes:
    card = world.new_card()
    issue_genuine(world, world.driver, card, 1)
    record = read_record(world.driver, world.driver.reader_names[1])
    world.driver.remove(1)
    return record


def _case(world: World, code: str) -> tuple[Callable[[SimulatedCard], None], bool]:
    """What the card does between the write and the read-back; whether it stays unlocked."""
    if code == "readback_mismatch":
        other = _other_record(world)

        def another_record(card: SimulatedCard) -> None:
            files = dict(card._store.state.files)
            files[FileId.RECORD] = other
            rewrite_state(card, files=files)

        return another_record, True
    if code == "verify_failed":
        return swap_card_key, True
    if code == "life_cycle":  # the card claims to be locked already
        return (lambda card: rewrite_state(card, life_cycle=LifeCycle.ISSUED)), False
    if code == "incomplete":
        return (lambda card: rewrite_state(card, pin=None)), True
    return (lambda card: None), True


CODES = [
    "readback_mismatch",
    "verify_failed",
    "life_cycle",
    "wrong_binding",
    "wrong_binding_number",
    "incomplete",
]


@pytest.mark.parametrize("code", CODES)
def test_read_back_gate_refuses(world: World, code: str) -> None:
    fault, unlocked = _case(world, code)
    card = world.new_card()
    reader = world.driver.insert(0, card)
    app, app_id = world.application()
    if code.startswith("wrong_binding"):
        liar = _OtherNumber if code == "wrong_binding_number" else _OtherSerial
        app = liar(**{f.name: getattr(app, f.name) for f in dataclasses.fields(app)})

    def hook(step: Step) -> None:
        if step is Step.VERIFY:
            fault(card)

    with Session(world.engine) as session:
        before = {p.number for p in session.exec(select(Permit))}
    with pytest.raises(IssuanceError) as info:
        world.workflow(hook=hook).issue(app, app_id, reader, NOW)
    assert info.value.code == code.removesuffix("_number")
    with Session(world.engine) as session:
        mine = [p for p in session.exec(select(Permit)) if p.number not in before]
    assert [p.state for p in mine] == [PermitState.ABANDONED]
    assert mine[0].issued_at is None and mine[0].record_digest is None
    assert world.register.lock_pending(app_id) == []
    if unlocked:
        assert card.life_cycle is LifeCycle.PERSONALISING
