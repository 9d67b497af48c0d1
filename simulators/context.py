"""What a command handler sees: the plain command, the volatile state and the store."""

from __future__ import annotations

from dataclasses import dataclass, field

from card_service.card.wire import SW, FileId, LifeCycle

from .apdu import CommandApdu
from .image import CardState, CardStore
from .scp03 import Handshake, SecureChannel

__all__ = ["Command", "PendingChain", "PendingResponse", "Response", "Session", "Volatile"]


@dataclass
class PendingChain:
    """Command chaining in progress (section 3): data collected so far (plain file content,
    e.g. personal data; kept out of ``repr``)."""

    ins: int
    p1: int
    p2: int
    wrapped: bool
    data: bytearray = field(repr=False)


@dataclass
class PendingResponse:
    """Response chaining in progress: data not yet fetched by GET RESPONSE, and the final SW.

    ``data`` (file contents, wrapped responses) is kept out of ``repr``.
    """

    data: bytes = field(repr=False)
    sw: int


@dataclass
class Volatile:
    """RAM state: lost on reset, power loss, and (mostly) on application selection."""

    app_selected: bool = False
    current_ef: FileId | None = None
    pin_verified: bool = False
    channel: SecureChannel | None = None
    handshake: Handshake | None = None
    chain: PendingChain | None = None
    pending: PendingResponse | None = None

    def deselect(self) -> None:
        """Everything back to the power-on state."""
        self.app_selected = False
        self.current_ef = None
        self.pin_verified = False
        self.channel = None
        self.handshake = None
        self.chain = None
        self.pending = None


@dataclass(frozen=True)
class Command:
    """A command after secure-messaging unwrapping.

    ``apdu`` is the APDU as received (header, Le, form); ``data`` is the plain data
    (decrypted when ``wrapped``).  ``wrapped`` means it arrived through an open issuer
    channel and passed the C-MAC check: the ISSUER_SM access condition.  ``data`` may hold
    PIN/PUK blocks or personal data and is kept out of ``repr``.
    """

    apdu: CommandApdu
    data: bytes = field(repr=False)
    wrapped: bool

    @property
    def p1(self) -> int:
        return self.apdu.p1

    @property
    def p2(self) -> int:
        return self.apdu.p2

    @property
    def ne(self) -> int | None:
        return self.apdu.ne


@dataclass(frozen=True)
class Response:
    """A handler's answer; ``data`` (file contents, keys) is kept out of ``repr``."""

    data: bytes = field(default=b"", repr=False)
    sw: int = SW.OK


class Session:
    """A handler's view of the card: persistent state (read, commit) and volatile state."""

    def __init__(self, store: CardStore, volatile: Volatile) -> None:
        self.store = store
        self.volatile = volatile

    @property
    def state(self) -> CardState:
        return self.store.state

    @property
    def life_cycle(self) -> LifeCycle:
        return self.store.state.life_cycle

    def commit(self, new_state: CardState) -> None:
        self.store.commit(new_state)
