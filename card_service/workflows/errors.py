"""The error every officer workflow raises: a stable short ``code`` and a one-line message."""

from __future__ import annotations

from permit_errors import ErrorKind, PermitError

__all__ = ["IssuanceError"]


class IssuanceError(PermitError):
    """The workflow did not complete; ``code`` is a short reason, ``permit_number`` if any.

    Messages never carry personal data, keys, PINs or card secrets."""

    code = "issuance_failed"
    kind = ErrorKind.REFUSED

    def __init__(
        self,
        code: str,
        message: str,
        permit_number: str | None = None,
        *,
        remedy: str | None = None,
    ) -> None:
        self.code = code
        self.permit_number = permit_number
        if remedy is not None:
            self.remedy = remedy
        super().__init__(message)
