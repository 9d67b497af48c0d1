"""The signed revocation status list: IETF Token Status List (draft-ietf-oauth-status-list),
CWT form, ``bits`` = 2 (VALID, INVALID, SUSPENDED); docs/status-list.md.

* :mod:`.encoding`: statuses packed LSB first, ZLIB, the CBOR StatusList map;
* :mod:`.token`: the Status List Token (COSE_Sign1 ES256, ``typ`` application/statuslist+cwt,
  claims sub, iat, exp, ttl, status_list), parsing and encoding;
* :mod:`.builder`: :func:`build_status_list` (issuer side);
* :mod:`.verify`: :func:`load_status_list` / :func:`check_status` (verifier side: a typed
  answer, "unknown" apart from revoked).
"""

from __future__ import annotations

from .builder import DEFAULT_LIFETIME, DEFAULT_TTL, build_status_list
from .encoding import PERMIT_BITS, Status, StatusList, decode_status_list
from .errors import StatusListBuildError, StatusListCode, StatusListError
from .token import MEDIA_TYPE, StatusListToken, parse_token
from .verify import (
    StatusAnswer,
    StatusListCheck,
    UnknownReason,
    Verdict,
    VerifiedStatusList,
    check_status,
    load_status_list,
    record_status,
)

__all__ = [
    "DEFAULT_LIFETIME",
    "DEFAULT_TTL",
    "MEDIA_TYPE",
    "PERMIT_BITS",
    "Status",
    "StatusAnswer",
    "StatusList",
    "StatusListBuildError",
    "StatusListCheck",
    "StatusListCode",
    "StatusListError",
    "StatusListToken",
    "UnknownReason",
    "Verdict",
    "VerifiedStatusList",
    "build_status_list",
    "check_status",
    "decode_status_list",
    "load_status_list",
    "parse_token",
    "record_status",
]
