"""The one base of every expected failure in permit: :class:`PermitError`.

Defined here, below every layer, and importing nothing of the project, so the transport
(``reader_drivers``), the key library (``keys``, a leaf) and the domain (``card_service``) can
all derive their exceptions from it without breaking the layering (docs/architecture.md).

An expected failure carries

* ``code``: a stable machine code (``snake_case``), part of the public contract: the CLI
  prints it with ``-v``, the HTTP API puts it in the problem document's ``type``; codes are
  never renamed, only added;
* ``kind``: what sort of failure it is (:class:`ErrorKind`), which is all an entry point needs
  to choose an exit status or an HTTP status in *one* place;
* its message (``str(error)``), one line, safe to show a user: never personal data, key
  material, a PIN, a CAN, a passphrase or an API key; messages are built from fixed text,
  identifiers (key ids, permit numbers, reader names) and field *names*;
* ``remedy``: optionally, what the user can do about it.

A verification *outcome* (a forged record, a revoked permit) is a result, not an exception:
only failures to carry out the request are errors.  An unexpected exception (a bug) is not a
:class:`PermitError`; entry points log it and answer with a generic message.
"""

from __future__ import annotations

import traceback
from enum import StrEnum

__all__ = ["ErrorKind", "PermitError", "withheld_traceback"]


def withheld_traceback(exc: BaseException) -> str:
    """``exc``'s stack for a log line - every exception of its chain (causes and contexts)
    by type, with its frames (file, line, function, source line) - and no exception's
    *message*: an unexpected exception's text may carry what no log may (a driver's failing
    row, a URL with its password, personal data in a value that failed to convert)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for index, item in enumerate(reversed(chain)):
        if index:
            parts.append("\nwhich led to:\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(item.__traceback__))
        parts.append(f"{type(item).__module__}.{type(item).__qualname__}: <message withheld>\n")
    return "".join(parts)


class ErrorKind(StrEnum):
    """The sort of an expected failure; entry points map it to exit and HTTP statuses."""

    #: The input is malformed or breaks a rule (a bad date, an invalid field).
    INVALID = "invalid"
    #: What was asked for does not exist (no such permit, no such key or reader).
    NOT_FOUND = "not_found"
    #: The current state does not allow it (permit already revoked, card busy, lost a race).
    CONFLICT = "conflict"
    #: A rule refuses it (not eligible, not due, not allowed in this environment).
    REFUSED = "refused"
    #: A credential was wrong or is blocked (passphrase, token PIN, issuer authentication,
    #: an API key that is unknown, expired or revoked).
    UNAUTHORISED = "unauthorised"
    #: The caller is known but its role or scope does not allow this (deny by default).
    FORBIDDEN = "forbidden"
    #: The caller has made too many requests; ``retry_after`` (seconds) says when to retry.
    RATE_LIMITED = "rate_limited"
    #: Something needed is not reachable now (reader, card, token, database): try again.
    UNAVAILABLE = "unavailable"
    #: Stored or received data failed an integrity check (corrupt file, tampered log).
    INTEGRITY = "integrity"
    #: The installation's configuration is missing or unacceptable.
    CONFIG = "config"


class PermitError(Exception):
    """Base of every expected failure: ``code``, ``kind``, a safe one-line message, ``remedy``.

    Subclasses set ``code`` and ``kind`` as class attributes; an instance may narrow ``code``
    (e.g. a workflow refusal names its reason).  ``str(error)`` is the message.
    """

    code: str = "permit_error"
    kind: ErrorKind = ErrorKind.INVALID
    remedy: str | None = None

    @property
    def message(self) -> str:
        """The one-line message, safe to show (``str(self)`` with whitespace folded)."""
        return " ".join(str(self).split())

    def as_dict(self) -> dict[str, str]:
        """``code``, ``kind``, ``message`` (and ``remedy`` when known), for machine output."""
        out = {"code": self.code, "kind": str(self.kind), "message": self.message}
        if self.remedy:
            out["remedy"] = self.remedy
        return out
