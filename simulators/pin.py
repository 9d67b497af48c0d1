"""PIN and PUK: block format and the commands VERIFY, CHANGE REFERENCE DATA, RESET
RETRY COUNTER (sections 5.5-5.7, 7, 9).

Every check of a secret is two transactions: the decremented counter is committed
*before* the comparison, and the result (counter reset, new value) after it.  A
power cut between the two leaves the try consumed, so tearing gives no free guess.
"""

from __future__ import annotations

import hmac
from dataclasses import replace

from card_service.card.wire import (
    PIN_BLOCK_LENGTH,
    PIN_MAX_LENGTH,
    PIN_MAX_TRIES,
    PIN_MIN_LENGTH,
    PIN_PAD,
    PUK_LENGTH,
    PUK_MAX_TRIES,
    SW,
    KeyRef,
    LifeCycle,
)

from .context import Command, Response, Session
from .image import CardState
from .status import fail, tries_left

__all__ = ["change_reference_data", "pin_block_ok", "reset_retry_counter", "verify"]

_DIGITS = frozenset(b"0123456789")


def _block_ok(block: bytes, min_digits: int, max_digits: int) -> bool:
    if len(block) != PIN_BLOCK_LENGTH:
        return False
    digits = block.rstrip(bytes((PIN_PAD,)))
    if not min_digits <= len(digits) <= max_digits:
        return False
    return all(b in _DIGITS for b in digits)


def pin_block_ok(block: bytes) -> bool:
    """6-8 ASCII digits padded to 8 bytes with FF."""
    return _block_ok(block, PIN_MIN_LENGTH, PIN_MAX_LENGTH)


def puk_block_ok(block: bytes) -> bool:
    """Exactly 8 ASCII digits."""
    return _block_ok(block, PUK_LENGTH, PUK_LENGTH)


def _check_pin(s: Session, candidate: bytes) -> bool:
    """Decrement and commit the PIN counter, then compare (constant time).

    The caller has checked that the PIN is set and not blocked.  On a mismatch the
    decremented counter is the result; on a match the caller commits the second
    transaction.
    """
    state = s.state
    assert state.pin is not None and state.pin_tries > 0
    s.volatile.pin_verified = False  # as Java Card's OwnerPIN.check: a check resets the status
    s.commit(replace(state, pin_tries=state.pin_tries - 1))
    return hmac.compare_digest(state.pin, candidate)


def verify(s: Session, cmd: Command) -> Response:
    if cmd.p1 != 0x00:
        fail(SW.INCORRECT_P1P2)
    if cmd.p2 != KeyRef.PIN:
        fail(SW.REFERENCED_DATA_NOT_FOUND)
    if len(cmd.data) not in (0, PIN_BLOCK_LENGTH):
        fail(SW.WRONG_LENGTH)
    state = _usable_pin_state(s)
    if not cmd.data:  # status query
        if s.volatile.pin_verified:
            return Response()
        return Response(sw=tries_left(state.pin_tries))
    if not pin_block_ok(cmd.data):
        fail(SW.INCORRECT_DATA)
    if not _check_pin(s, cmd.data):
        return Response(sw=tries_left(s.state.pin_tries))
    s.commit(replace(s.state, pin_tries=PIN_MAX_TRIES))
    s.volatile.pin_verified = True
    return Response()


def _usable_pin_state(s: Session) -> CardState:
    """The state, once the PIN can be presented at all (right state, set, not blocked)."""
    if s.life_cycle not in (LifeCycle.PERSONALISING, LifeCycle.ISSUED):
        fail(SW.CONDITIONS_OF_USE_NOT_SATISFIED)
    state = s.state
    if state.pin is None:
        fail(SW.REFERENCE_DATA_NOT_USABLE)
    if state.pin_tries == 0:
        fail(SW.AUTH_METHOD_BLOCKED)
    return state


def change_reference_data(s: Session, cmd: Command) -> Response:
    p1, p2, data = cmd.p1, cmd.p2, cmd.data
    if (p1, p2) == (0x00, KeyRef.PIN):
        return _change_pin(s, data)
    if p1 == 0x01 and p2 in (KeyRef.PIN, KeyRef.PUK):
        return _set_reference(s, cmd)
    fail(SW.INCORRECT_P1P2)


def _change_pin(s: Session, data: bytes) -> Response:
    if len(data) != 2 * PIN_BLOCK_LENGTH:
        fail(SW.WRONG_LENGTH)
    _usable_pin_state(s)
    old, new = data[:PIN_BLOCK_LENGTH], data[PIN_BLOCK_LENGTH:]
    if not (pin_block_ok(old) and pin_block_ok(new)):
        fail(SW.INCORRECT_DATA)
    if not _check_pin(s, old):
        return Response(sw=tries_left(s.state.pin_tries))
    s.commit(replace(s.state, pin=new, pin_tries=PIN_MAX_TRIES))
    s.volatile.pin_verified = True
    return Response()


def _set_reference(s: Session, cmd: Command) -> Response:
    """Issuer sets the PIN (P2 81) or the PUK (P2 82) during personalisation."""
    if len(cmd.data) != PIN_BLOCK_LENGTH:
        fail(SW.WRONG_LENGTH)
    if not cmd.wrapped:
        fail(SW.SECURITY_STATUS_NOT_SATISFIED)
    if s.life_cycle != LifeCycle.PERSONALISING:
        fail(SW.CONDITIONS_OF_USE_NOT_SATISFIED)
    if cmd.p2 == KeyRef.PIN:
        if not pin_block_ok(cmd.data):
            fail(SW.INCORRECT_DATA)
        s.commit(replace(s.state, pin=cmd.data, pin_tries=PIN_MAX_TRIES))
        s.volatile.pin_verified = False
    else:
        if not puk_block_ok(cmd.data):
            fail(SW.INCORRECT_DATA)
        s.commit(replace(s.state, puk=cmd.data, puk_tries=PUK_MAX_TRIES))
    return Response()


def reset_retry_counter(s: Session, cmd: Command) -> Response:
    if cmd.p2 != KeyRef.PIN or cmd.p1 not in (0x00, 0x01):
        fail(SW.INCORRECT_P1P2)
    new_pin = cmd.p1 == 0x00
    expected = PIN_BLOCK_LENGTH * (2 if new_pin else 1)
    if len(cmd.data) != expected:
        fail(SW.WRONG_LENGTH)
    if s.life_cycle not in (LifeCycle.PERSONALISING, LifeCycle.ISSUED):
        fail(SW.CONDITIONS_OF_USE_NOT_SATISFIED)
    state = s.state
    if state.puk is None:
        fail(SW.REFERENCE_DATA_NOT_USABLE)
    if state.puk_tries == 0:
        fail(SW.AUTH_METHOD_BLOCKED)
    puk = cmd.data[:PIN_BLOCK_LENGTH]
    pin = cmd.data[PIN_BLOCK_LENGTH:] if new_pin else None
    if not puk_block_ok(puk) or (pin is not None and not pin_block_ok(pin)):
        fail(SW.INCORRECT_DATA)
    s.commit(replace(state, puk_tries=state.puk_tries - 1))
    if not hmac.compare_digest(state.puk, puk):
        return Response(sw=tries_left(s.state.puk_tries))
    result = replace(s.state, puk_tries=PUK_MAX_TRIES, pin_tries=PIN_MAX_TRIES)
    if pin is not None:
        result = replace(result, pin=pin)
        s.volatile.pin_verified = False
    s.commit(result)
    return Response()
