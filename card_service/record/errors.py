"""Exceptions of the record layer.

Messages name the field and the rule that failed, never the value: an identity number, a
name or an address must not end up in a log line or a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from permit_errors import ErrorKind, PermitError

__all__ = ["FieldProblem", "RecordError", "RecordValidationError", "SigningError"]


class RecordError(PermitError):
    """Base of every expected failure when building, signing or presenting a record."""

    code = "record_error"
    kind = ErrorKind.INVALID


@dataclass(frozen=True)
class FieldProblem:
    """One failed rule: the element identifier and why (never the value)."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class RecordValidationError(RecordError, ValueError):
    """The permit data breaks one or more rules; ``problems`` lists all of them."""

    def __init__(self, problems: Iterable[FieldProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid permit data")

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(p.field for p in self.problems)


class SigningError(RecordError):
    """The key or certificate chain cannot sign a record (wrong curve, empty chain, ...)."""
