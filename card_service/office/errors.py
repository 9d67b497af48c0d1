"""The failures the application layer adds to the domain's, and the domain's it re-exports.

Every one is a :class:`~permit_errors.PermitError`.  An entry point (the ``permit`` CLI, the
coming HTTP API) imports its error vocabulary from here only, and maps it in one place: a
:class:`SettingsError` or :class:`RequestInvalid` is the caller's to fix (CLI exit 2), any
other :class:`~permit_errors.PermitError` is a failure to carry out the request (exit 1).
"""

from __future__ import annotations

from card_service.card.errors import CardError
from card_service.clients import Forbidden, Unauthenticated
from card_service.clients.errors import ClientError, ClientInvalid, ClientNotFound, ClientRevoked
from card_service.register.errors import RegisterError
from card_service.shared_state import SharedStateUnavailable
from card_service.workflows.application import ApplicationError
from card_service.workflows.errors import IssuanceError
from keys.errors import KeysNotInitialised, KeyStoreError, SignerValidationError
from permit_env import EnvironmentConfigError
from permit_errors import ErrorKind, PermitError
from reader_drivers.errors import ReaderError

__all__ = [
    "WORKFLOW_ERRORS",
    "ApplicationError",
    "ApplicationRejected",
    "ApprovedNotIssued",
    "CardError",
    "ClientError",
    "ClientInvalid",
    "ClientNotFound",
    "ClientRevoked",
    "EnvironmentConfigError",
    "ErrorKind",
    "Forbidden",
    "IssuanceError",
    "KeyStoreError",
    "KeysNotInitialised",
    "OfficeError",
    "PermitError",
    "ReaderError",
    "RegisterError",
    "RegisterUnavailable",
    "RequestInvalid",
    "SettingsError",
    "SharedStateUnavailable",
    "SignerValidationError",
    "SimulatorRefused",
    "StorageError",
    "TrustUnavailable",
    "Unauthenticated",
]


class OfficeError(PermitError):
    """Base of the failures raised by the application layer itself."""

    code = "office_error"


class SettingsError(OfficeError):
    """A setting (environment variable) is missing or unacceptable: one line, no secret."""

    code = "settings_invalid"
    kind = ErrorKind.CONFIG


class SimulatorRefused(SettingsError):
    """Simulated cards were asked for where ``PERMIT_ENV=production`` refuses them."""

    code = "simulator_refused"


class RequestInvalid(OfficeError):
    """A parameter of the request breaks a rule (a key policy, a missing directory)."""

    code = "request_invalid"
    kind = ErrorKind.INVALID


class RegisterUnavailable(OfficeError):
    """The register database failed; never the driver's text (SQL parameters, the URL)."""

    code = "register_unavailable"
    kind = ErrorKind.UNAVAILABLE


class TrustUnavailable(OfficeError):
    """No trust list could be had (no local keys, an unreadable trust directory)."""

    code = "trust_unavailable"
    kind = ErrorKind.CONFIG


class StorageError(OfficeError):
    """A file the office reads or writes failed (the message names the file, not content)."""

    code = "storage_failed"
    kind = ErrorKind.UNAVAILABLE


class ApplicationRejected(OfficeError):
    """The register refused the application; ``reasons`` are its stable codes."""

    code = "application_rejected"
    kind = ErrorKind.REFUSED

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__("application rejected: " + ",".join(reasons))
        self.reasons = reasons


class ApprovedNotIssued(OfficeError):
    """The application was approved and recorded, then issuing failed: retry naming it.

    ``cause`` is the failure (its ``code`` and ``kind`` are this error's); ``application_id``
    is the approved application a retry must name instead of submitting a new one.
    """

    def __init__(self, cause: PermitError, application_id: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.application_id = application_id
        self.code = cause.code
        self.kind = cause.kind


#: The domain failures a card workflow reports under their class name (operators and tests
#: search for ``ApplicationError``, ``NoCard``, ...).
WORKFLOW_ERRORS: tuple[type[PermitError], ...] = (
    ApplicationError,
    IssuanceError,
    RegisterError,
    CardError,
    ReaderError,
)
