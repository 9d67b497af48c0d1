"""What the issuance workflow shares with its callers: results, errors, the application check.

Split from :mod:`.issuance` (which re-exports these names).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from card_service.card.errors import CardError
from card_service.card.scp03 import KeyProvider
from card_service.card.session import PermitCardSession
from card_service.card.wire import LifeCycle
from card_service.record import Verdict
from card_service.register.errors import ApplicationMismatch, NotFound
from card_service.register.service import Register
from reader_drivers.errors import ReaderError

from .application import PermitApplication
from .cardops import RecordDigests, record_values
from .errors import IssuanceError

__all__ = [
    "CARD_FAILURES",
    "IssuanceError",
    "IssuanceResult",
    "check_application",
    "concurrent",
    "new_pin_letter",
    "random_digits",
    "readback_problem",
]

#: Errors of the card or the reader: the issuance on this card failed, roll it back.
CARD_FAILURES = (CardError, ReaderError)


def concurrent(number: str | None) -> IssuanceError:
    """The refusal of the loser of two issuances of one application (nothing locked)."""
    return IssuanceError(
        "concurrent_issuance",
        "another issuance of this application changed the register first; retry",
        number,
    )


@dataclass(frozen=True)
class IssuanceResult:
    permit_number: str
    card_serial: str
    digests: RecordDigests
    #: The initial PIN and PUK for the holder's PIN letter.  Never logged.  A resumed
    #: lock-pending issuance sets fresh ones (the first attempt's letter was never shown);
    #: ``None`` when a retry found the issuance already complete.
    pin: str | None = field(default=None, repr=False)
    puk: str | None = field(default=None, repr=False)
    resumed: bool = False
    #: A resumed issuance whose card was already locked (the confirmation was lost): its
    #: PIN letter was never shown and a locked card's PIN cannot be reset - the holder
    #: needs a replacement card for the PIN functions (docs/workflows.md).
    pin_letter_lost: bool = False


def check_application(
    register: Register, application_id: int, application: PermitApplication
) -> None:
    """The card will carry ``application``: it must be the register's application
    ``application_id`` (same person, residence, basis, evidence and portrait)."""
    try:
        register.check_application(
            application_id, application.applicant_data(), application.application_data()
        )
    except ApplicationMismatch as exc:
        raise IssuanceError("application_mismatch", str(exc)) from None
    except NotFound:
        raise IssuanceError("application_unknown", "no such application in the register") from None


def random_digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def new_pin_letter(session: PermitCardSession, keys: KeyProvider) -> tuple[str, str]:
    """Set a fresh random PIN (6 digits) and PUK (8 digits) on a PERSONALISING card under
    the issuer channel (opened if needed), as personalisation does; returns them for the
    PIN letter.  Used when a lock-pending issuance is resumed: the PIN the first attempt set
    was never shown to anyone, so it is replaced before the card is locked.  The values go
    only to the caller - never to a log, an exception or the register."""
    pin, puk = random_digits(6), random_digits(8)
    if not session.issuer_channel_open:
        session.select()
        session.open_issuer_channel(keys)
    session.set_pin(pin)
    session.set_puk(puk)
    info = session.read_card_info()
    if not (info.pin_set and info.puk_set):
        raise IssuanceError("incomplete", "the card did not take the new PIN and PUK")
    return pin, puk


def readback_problem(
    record: bytes,
    readback: bytes,
    verdict: Verdict,
    life_cycle: LifeCycle,
    number: str,
    serial: str,
) -> str:
    """Why the personalised card's read-back fails the issuance (``""``: it passes)."""
    if readback != record:
        return "readback_mismatch"
    if verdict is not Verdict.VALID:
        return "verify_failed"
    if life_cycle is not LifeCycle.PERSONALISING:
        return "life_cycle"
    values = record_values(readback)
    if values.get("permit_number") != number or values.get("card_serial") != serial:
        return "wrong_binding"
    return ""
