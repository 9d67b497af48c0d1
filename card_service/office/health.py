"""Readiness of an office: can it reach what its use cases need (for ``/readyz``).

Each check answers ``ok``, ``failed`` (with the failure's stable code, never a driver's
text) or ``not_configured``.  The office is *ready* when its register answers and its key
store (or ephemeral issuer) opens; readers are reported but do not make an office unready:
a central instance has none, and card routes answer ``no_readers`` there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from permit_errors import ErrorKind, PermitError

from .core import OfficeCore

__all__ = ["Check", "Readiness", "readiness"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    #: ``ok``, ``failed`` or ``not_configured``.
    status: str
    #: The failure's stable code (``register_unavailable``, ``keys_not_initialised``...).
    code: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass(frozen=True)
class Readiness:
    database: Check
    keys: Check
    readers: Check
    reader_names: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return self.database.ok and self.keys.ok


def readiness(office: OfficeCore) -> Readiness:
    """Check the register (``SELECT 1``), the issuer's keys and the readers of ``office``."""
    return Readiness(_database(office), _keys(office), *_readers(office))


def _database(office: OfficeCore) -> Check:
    try:
        with office.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("readiness: register database failed (%s)", type(exc).__name__)
        return Check("failed", "register_unavailable")
    except PermitError as exc:
        return Check("failed", exc.code)
    return Check("ok")


def _keys(office: OfficeCore) -> Check:
    try:
        office.trust_list()
    except PermitError as exc:
        if exc.kind is ErrorKind.INVALID:  # an ephemeral office without its own issuer
            return Check("not_configured", exc.code)
        return Check("failed", exc.code)
    return Check("ok")


def _readers(office: OfficeCore) -> tuple[Check, tuple[str, ...]]:
    try:
        found = office.cards.readers()
    except PermitError as exc:
        return Check("failed", exc.code), ()
    if not found:
        return Check("not_configured", "no_readers"), ()
    return Check("ok"), tuple(r.name for r in found)
