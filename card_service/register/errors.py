"""Register errors: a stable ``code`` for callers and APIs, and never personal data."""

from __future__ import annotations

from permit_errors import ErrorKind, PermitError

__all__ = [
    "ActivePermitExists",
    "ApplicationMismatch",
    "CardBusy",
    "InvalidCardSerial",
    "InvalidDigest",
    "InvalidInput",
    "InvalidReason",
    "InvalidState",
    "NotEligible",
    "NotFound",
    "RegisterConfigError",
    "RegisterError",
    "Superseded",
]


class RegisterError(PermitError):
    code = "register_error"
    kind = ErrorKind.CONFLICT


class NotFound(RegisterError):
    code = "not_found"
    kind = ErrorKind.NOT_FOUND


class InvalidState(RegisterError):
    """The operation is not allowed in the permit's (or card's) current state."""

    code = "invalid_state"
    kind = ErrorKind.CONFLICT


class Superseded(InvalidState):
    """Another transaction changed the permit first: the reservation was abandoned, the
    permit was replaced or revoked, or its card lock was confirmed.  The caller's decision
    (taken from an earlier read) no longer holds; nothing was changed."""

    code = "superseded"
    kind = ErrorKind.CONFLICT


class ActivePermitExists(RegisterError):
    """The person already holds a RESERVED or ISSUED permit."""

    code = "active_permit_exists"
    kind = ErrorKind.CONFLICT


class CardBusy(RegisterError):
    """The card is bound to another pending or issued permit (or terminated)."""

    code = "card_busy"
    kind = ErrorKind.CONFLICT


class NotEligible(RegisterError):
    code = "not_eligible"
    kind = ErrorKind.REFUSED

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__("not eligible: " + ", ".join(reasons))
        self.reasons = reasons


class ApplicationMismatch(RegisterError):
    """The data presented for issuance is not the application the register holds.

    ``fields`` names what differs (names only, never values)."""

    code = "application_mismatch"
    kind = ErrorKind.INVALID

    def __init__(self, fields: tuple[str, ...]) -> None:
        super().__init__("the application data differs from the register's: " + ", ".join(fields))
        self.fields = fields


class InvalidInput(RegisterError, ValueError):
    """A malformed argument a caller can send (a CLI flag, an HTTP field).

    Also a ``ValueError``, as these were before they had a code, so callers that catch
    ``ValueError`` keep working."""

    code = "invalid_input"
    kind = ErrorKind.INVALID


class InvalidReason(InvalidInput):
    """A revocation or replacement reason the operation does not take."""

    code = "invalid_reason"


class InvalidCardSerial(InvalidInput):
    code = "invalid_card_serial"


class InvalidDigest(InvalidInput):
    """An MSO or record digest that is not lower-case hex SHA-256."""

    code = "invalid_digest"


class RegisterConfigError(RegisterError, ValueError):
    """The register's configuration is unusable (database URL, ``$PERMIT_AUDIT_...``).

    A ``ValueError`` too: the command line reports these as usage errors."""

    code = "register_config"
    kind = ErrorKind.CONFIG
