"""The error every officer workflow raises: a stable short ``code`` and a one-line message."""

from __future__ import annotations

from permit_errors import ErrorKind, PermitError

__all__ = ["RETRY_WITH_CARD", "IssuanceError"]


#: Codes that a retry with the card back in the reader resolves: the reader's state, a
#: conflict (HTTP 409), not a refusal.  ``card_failed``: the card was pulled (or its link
#: broke) mid-way, the register rolled back; ``lock_pending``: the permit is issued and only
#: the card's lock is unconfirmed (the retry, or reconciliation, with the card finishes it).
RETRY_WITH_CARD = frozenset({"card_failed", "lock_pending"})


class IssuanceError(PermitError):
    """The workflow did not complete; ``code`` is a short reason, ``permit_number`` if any.

    Kind REFUSED (a rule refused it), CONFLICT for :data:`RETRY_WITH_CARD`.  Messages never
    carry personal data, keys, PINs or card secrets."""

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
        if code in RETRY_WITH_CARD:
            self.kind = ErrorKind.CONFLICT
        self.permit_number = permit_number
        if remedy is not None:
            self.remedy = remedy
        super().__init__(message)
