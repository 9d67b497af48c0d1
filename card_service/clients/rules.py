"""What a client's name, role, scope and expiry may be.

* the name is text for people (who holds the key: "Bank of Hangzhou, branch 12"): 1-100
  UTF-8 bytes, NFC, no control, format (bidi) or unassigned characters - the record's own
  text rule (:func:`card_service.record.data.text_problem`);
* the scope names the record's element identifiers (:data:`~card_service.record.data.ELEMENTS`)
  a relying party may receive; only a relying party has one.  The mandatory elements
  (``permit_number``, ``first_endorsement_due``) go with every presentation whatever the
  scope says, so an empty scope admits exactly those;
* an expiry lies after the creation instant;
* the actor (``created_by``, the audit entry's actor) is an identifier, never free text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from card_service.record.data import ELEMENTS, text_problem
from card_service.register.types import require_utc

from . import Role
from .errors import ClientInvalid

__all__ = [
    "ELEMENT_IDENTIFIERS",
    "NAME_MAX_BYTES",
    "check_actor",
    "check_expiry",
    "check_name",
    "check_role",
    "check_scope",
]

NAME_MAX_BYTES = 100
#: The element identifiers a scope may name, in record order.
ELEMENT_IDENTIFIERS: tuple[str, ...] = tuple(e.identifier for e in ELEMENTS)
_KNOWN = frozenset(ELEMENT_IDENTIFIERS)
#: Who made a change (an operator's name, or the admin client's id): the audit log's actor.
_ACTOR = re.compile(r"[A-Za-z0-9_.:@-]{1,64}", re.ASCII)


def check_actor(actor: object) -> str:
    """``actor`` if it can be the audit entry's actor (1-64 of ``[A-Za-z0-9_.:@-]``)."""
    if not isinstance(actor, str) or not _ACTOR.fullmatch(actor):
        raise ClientInvalid("actor must be 1-64 characters of [A-Za-z0-9_.:@-]")
    return actor


def check_name(name: object) -> str:
    """``name`` if it is acceptable; :class:`ClientInvalid` (without the text) otherwise."""
    problem = text_problem(name, NAME_MAX_BYTES)
    if problem is not None:
        raise ClientInvalid(f"client name {problem}")
    assert isinstance(name, str)
    return name


def check_role(role: Role | str) -> Role:
    """The :class:`~card_service.clients.Role` named by ``role``."""
    try:
        return Role(role)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ClientInvalid(f"unknown client role (one of {names})") from None


def check_scope(role: Role, scope: Iterable[str]) -> frozenset[str]:
    """The scope as a set; only a relying party has one, of known element identifiers."""
    if isinstance(scope, str):
        raise ClientInvalid("client scope must be a list of element identifiers")
    elements = frozenset(scope)
    if elements and role is not Role.RELYING_PARTY:
        raise ClientInvalid(f"only a relying_party client has a scope, not {role.value}")
    for element in elements:
        if not isinstance(element, str) or element not in _KNOWN:
            raise ClientInvalid(
                "client scope names an unknown element (one of "
                + ", ".join(ELEMENT_IDENTIFIERS)
                + ")"
            )
    return elements


def check_expiry(expires_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """``expires_at`` in UTC, if it lies after ``now``."""
    if expires_at is None:
        return None
    try:
        at = require_utc(expires_at, "the client expiry")
    except ValueError as exc:
        raise ClientInvalid(str(exc)) from None
    if at <= now:
        raise ClientInvalid("client expiry must lie in the future")
    return at
