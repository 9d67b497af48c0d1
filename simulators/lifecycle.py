"""SET STATUS: the life-cycle transitions of section 4 (section 5.12)."""

from __future__ import annotations

from dataclasses import replace

from card_service.card.wire import SW, FileId, LifeCycle

from .context import Command, Response, Session
from .image import CardState
from .status import fail

__all__ = ["set_status"]

_ALLOWED = {
    (LifeCycle.BLANK, LifeCycle.PERSONALISING),
    (LifeCycle.PERSONALISING, LifeCycle.ISSUED),
    (LifeCycle.PERSONALISING, LifeCycle.BLANK),
    (LifeCycle.BLANK, LifeCycle.TERMINATED),
    (LifeCycle.PERSONALISING, LifeCycle.TERMINATED),
    (LifeCycle.ISSUED, LifeCycle.TERMINATED),
}


def ready_to_lock(state: CardState) -> bool:
    """PERSONALISING -> ISSUED needs the card key, EF.Record, the PIN and the PUK."""
    return (
        state.card_key is not None
        and bool(state.file(FileId.RECORD))
        and state.pin is not None
        and state.puk is not None
    )


def set_status(s: Session, cmd: Command) -> Response:
    """Only reached through an open issuer channel (CLA 84 is unwrapped first)."""
    if cmd.p1 != 0x00 or cmd.p2 not in LifeCycle._value2member_map_:
        fail(SW.INCORRECT_P1P2)
    if cmd.data:
        fail(SW.WRONG_LENGTH)
    if not cmd.wrapped:
        fail(SW.SECURITY_STATUS_NOT_SATISFIED)
    current, target = s.life_cycle, LifeCycle(cmd.p2)
    if (current, target) not in _ALLOWED:
        fail(SW.CONDITIONS_OF_USE_NOT_SATISFIED)
    state = s.state
    if target == LifeCycle.ISSUED:
        if not ready_to_lock(state):
            fail(SW.CONDITIONS_OF_USE_NOT_SATISFIED)
        new_state = replace(state, life_cycle=target)
    elif target in (LifeCycle.BLANK, LifeCycle.TERMINATED):
        new_state = state.erased(target)  # wipe / termination, one transaction
    else:
        new_state = replace(state, life_cycle=target)
    s.commit(new_state)
    if target != LifeCycle.ISSUED:
        s.volatile.pin_verified = False
    return Response()
