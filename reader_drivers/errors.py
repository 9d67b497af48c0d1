"""Transport errors: everything that can go wrong between the host and a card.

Status words are *not* errors at this layer: a card answering ``6A82`` is a
successful transmission.  These exceptions are about readers and cards
themselves (absent, removed, busy, broken link).
"""

from __future__ import annotations

from collections.abc import Sequence

from permit_errors import ErrorKind, PermitError

__all__ = [
    "CardRemoved",
    "CommunicationError",
    "NoCard",
    "NoSuchReader",
    "ReaderBusy",
    "ReaderError",
]


class ReaderError(PermitError):
    """Base class of every transport error; ``reader`` names the reader concerned."""

    code = "reader_error"
    kind = ErrorKind.UNAVAILABLE

    def __init__(self, reader: str, message: str) -> None:
        super().__init__(message)
        self.reader = reader


class NoSuchReader(ReaderError):
    """The named reader does not exist; the message lists the readers there are."""

    code = "no_such_reader"
    kind = ErrorKind.NOT_FOUND

    def __init__(self, reader: str, available: Sequence[str]) -> None:
        self.available = list(available)
        listing = ", ".join(repr(r) for r in self.available) if self.available else "none"
        super().__init__(reader, f"no reader named {reader!r} (available readers: {listing})")


class NoCard(ReaderError):
    """The reader exists but holds no card."""

    code = "no_card"
    #: the reader's state (insert a card, wait): a conflict, not an outage
    kind = ErrorKind.CONFLICT

    def __init__(self, reader: str) -> None:
        super().__init__(reader, f"no card in reader {reader!r}")


class CardRemoved(ReaderError):
    """The card was removed, lost power or was reset by someone else.

    Raised when the connection the caller holds no longer reaches the card it
    was opened on: the card's volatile state (selection, secure channel, PIN
    status) is gone even if a card is present again.
    """

    code = "card_removed"
    #: the reader's state (insert a card, wait): a conflict, not an outage
    kind = ErrorKind.CONFLICT

    def __init__(self, reader: str, detail: str = "card removed or powered off") -> None:
        self.detail = detail
        super().__init__(reader, f"card in reader {reader!r} lost: {detail}")


class ReaderBusy(ReaderError):
    """Another connection holds exclusive access to the reader."""

    code = "reader_busy"
    #: the reader's state (insert a card, wait): a conflict, not an outage
    kind = ErrorKind.CONFLICT

    def __init__(self, reader: str) -> None:
        super().__init__(reader, f"reader {reader!r} is in exclusive use by another connection")


class CommunicationError(ReaderError):
    """The reader or the reader service failed to carry a command."""

    code = "reader_communication_failed"

    def __init__(self, reader: str, detail: str) -> None:
        self.detail = detail
        where = f"reader {reader!r}" if reader else "the reader service"
        super().__init__(reader, f"communication with {where} failed: {detail}")
