"""The internal exception a command handler raises to end with a status word."""

from __future__ import annotations

from typing import NoReturn

from card_service.card.wire import SW

__all__ = ["CardStatus", "fail", "sw_bytes", "tries_left"]


class CardStatus(Exception):
    """Ends the current command with status word ``sw`` and no response data."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"SW {sw:04X}")
        self.sw = sw


def fail(sw: int) -> NoReturn:
    raise CardStatus(sw)


def sw_bytes(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


def tries_left(n: int) -> int:
    """``63Cx`` for ``n`` tries left."""
    return SW.VERIFY_FAIL_00 | n
