"""The failures of the status-list layer.

Decoding untrusted bytes fails with :class:`StatusListError`, whose ``code`` names the broken
rule (stable, for callers and problem documents); building a list from bad arguments fails
with :class:`StatusListBuildError`.  A verifier never sees either: it gets a typed
"status unknown" answer (:mod:`card_service.status.verify`).  Messages never carry list
content, URIs of other parties or key material: fixed text and numbers only.
"""

from __future__ import annotations

from enum import StrEnum

from permit_errors import ErrorKind, PermitError

__all__ = ["StatusListBuildError", "StatusListCode", "StatusListError"]


class StatusListCode(StrEnum):
    """The stable codes of :class:`StatusListError`."""

    #: The StatusList CBOR map: not a map, missing or extra keys, wrong value types.
    LIST_MALFORMED = "status_list_malformed"
    #: ``bits`` is not 1, 2, 4 or 8.
    LIST_BITS = "status_list_bits"
    #: ``lst`` is not a complete ZLIB stream, carries trailing bytes or inflates too far.
    LIST_COMPRESSION = "status_list_compression"
    #: The Status List Token is not a COSE_Sign1 of the expected shape (CBOR, headers).
    CWT_MALFORMED = "status_token_malformed"
    #: The protected header's alg is not ES256.
    CWT_ALG = "status_token_alg"
    #: The protected header's type (16) is not ``application/statuslist+cwt``.
    CWT_TYPE = "status_token_type"
    #: A required CWT claim is missing or a claim has the wrong type.
    CWT_CLAIMS = "status_token_claims"


class StatusListError(PermitError, ValueError):
    """Bytes that are not a Status List or a Status List Token (draft-ietf-oauth-status-list)."""

    code = StatusListCode.CWT_MALFORMED.value
    kind = ErrorKind.INTEGRITY

    def __init__(self, message: str, code: StatusListCode = StatusListCode.CWT_MALFORMED):
        super().__init__(message)
        self.code = code.value
        self.rule = code


class StatusListBuildError(PermitError, ValueError):
    """A status list cannot be built from these arguments (a caller's mistake)."""

    code = "status_list_build_invalid"
    kind = ErrorKind.INVALID
