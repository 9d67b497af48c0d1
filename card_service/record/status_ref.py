"""The record's status reference (draft-ietf-oauth-status-list, "Referenced Token in COSE",
"ISO mdoc"): where a verifier looks the permit up in the signed status list.

In a version-2 MSO (docs/record-format.md)::

    "status": {                     ; the draft's ``Status`` CBOR structure
      "status_list": {              ; the draft's ``StatusListInfo``
        "idx": uint,                ; the permit's index (its register row id)
        "uri": tstr                 ; the Status List Token's URI (its ``sub``)
      }
    }

Parsing is strict, as everywhere in the record: exactly these keys, in deterministic order
(checked by the MSO parser over the received bytes), ``idx`` an unsigned integer below
:data:`MAX_INDEX`, ``uri`` an absolute ASCII URI of at most :data:`MAX_URI_BYTES` bytes
without white space or control characters.  Only the ``status_list`` mechanism is accepted:
a status this verifier cannot check is refused, not ignored.

The answer of a status list for a record is :class:`ListStatus`, given to the verifier by a
:data:`StatusLookup` (the status layer's :func:`card_service.status.verify.record_status`
builds one from a verified list: the record layer does not import the status layer).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import RecordError

__all__ = [
    "DEFAULT_STATUS_URI",
    "MAX_INDEX",
    "MAX_URI_BYTES",
    "ListStatus",
    "StatusError",
    "StatusKind",
    "StatusLookup",
    "StatusReference",
    "parse_status",
]

#: The ``uri`` written when the office names none (``PERMIT_STATUS_LIST_URI`` unset).
DEFAULT_STATUS_URI = "urn:permit:status-list"
#: Indices are register row ids; a list of 2-bit entries holds at most 2**28 of them in its
#: 64 MiB inflated bound, so anything at or above 2**31 cannot be a real index.
MAX_INDEX = 2**31
MAX_URI_BYTES = 255
#: RFC 3986 scheme, then at least one character that is not white space or a control.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[!-~]+", re.ASCII)


class StatusError(RecordError, ValueError):
    """A status reference that is not well formed (the MSO parser reports it)."""

    code = "status_reference_invalid"


def check_uri(uri: object) -> str:
    """``uri`` if it is a URI the reference may carry; else :class:`StatusError`."""
    if type(uri) is not str or not uri or len(uri) > MAX_URI_BYTES or not _URI.fullmatch(uri):
        raise StatusError("status uri must be an absolute ASCII URI of at most 255 bytes")
    return uri


@dataclass(frozen=True)
class StatusReference:
    """``idx`` and ``uri`` of a record's status reference."""

    idx: int
    uri: str

    def __post_init__(self) -> None:
        if type(self.idx) is not int or not 0 <= self.idx < MAX_INDEX:
            raise StatusError(f"status idx must be an integer in 0 .. {MAX_INDEX - 1}")
        check_uri(self.uri)

    def to_cbor(self) -> dict[str, Any]:
        """The ``status`` value of the MSO (keys in deterministic order)."""
        return {"status_list": {"idx": self.idx, "uri": self.uri}}


def parse_status(value: Any) -> StatusReference:
    """The MSO's decoded ``status`` value; :class:`StatusError` unless exactly the draft's
    ``{"status_list": {"idx": uint, "uri": tstr}}`` (key order is the MSO parser's check)."""
    if type(value) is not dict or tuple(value) != ("status_list",):
        raise StatusError("status must be a map holding exactly status_list")
    info = value["status_list"]
    if type(info) is not dict or tuple(info) != ("idx", "uri"):
        raise StatusError("status_list must be a map of exactly idx and uri, in that order")
    idx = info["idx"]
    if type(idx) is not int or not 0 <= idx < MAX_INDEX:
        raise StatusError(f"status idx must be an unsigned integer below {MAX_INDEX}")
    return StatusReference(idx, check_uri(info["uri"]))


class StatusKind(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ListStatus:
    """What a status list says of one reference: ``kind``, and for UNKNOWN a stable
    ``reason`` code (``no_list``, ``expired``, ``bad_signature``, ``wrong_uri``,
    ``index_out_of_range``, ...)."""

    kind: StatusKind
    reason: str | None = None


#: ``(reference, now) -> ListStatus``: the status list's answer for a record.
StatusLookup = Callable[[StatusReference, dt.datetime], ListStatus]
