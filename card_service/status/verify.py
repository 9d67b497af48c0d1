"""Verify a Status List Token and read a permit's status from it, offline.

The answer is typed (:class:`StatusAnswer`): VALID, INVALID (revoked), SUSPENDED, or UNKNOWN
with an :class:`UnknownReason`.  "Unknown" is never "revoked" and never "valid": no list, a
list that does not parse, a wrong ``typ``, a bad signature, a signer the trust list does not
vouch for as a *status-list* signer (a document or audit signer is refused), a list issued in
the future or expired (``now > exp``), a list without ``exp`` (it would never go stale), a
list for another URI, an index outside the list, or a status value the draft reserves.
Nothing here raises for any of these.

A verifier at scale verifies a list once (:func:`load_status_list`) and answers many indices
from it (:meth:`StatusListCheck.status_of`) until :attr:`VerifiedStatusList.refresh_at`
(``ttl`` after it was fetched, never later than ``exp``): docs/status-list.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric import ec

from card_service.record.status_ref import ListStatus, StatusKind, StatusLookup, StatusReference
from keys.clock import require_utc
from keys.errors import SignerValidationError
from keys.trust import TrustList, validate_status_signer

from .encoding import Status
from .errors import StatusListCode, StatusListError
from .token import StatusListToken, chain_certificates, parse_token

__all__ = [
    "StatusAnswer",
    "StatusListCheck",
    "UnknownReason",
    "Verdict",
    "VerifiedStatusList",
    "check_status",
    "load_status_list",
    "record_status",
]

log = logging.getLogger(__name__)


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"


_VERDICT = {Status.VALID: Verdict.VALID, Status.INVALID: Verdict.INVALID,
            Status.SUSPENDED: Verdict.SUSPENDED}  # fmt: skip


class UnknownReason(StrEnum):
    """Why no statement about the status can be made."""

    NO_LIST = "no_list"
    MALFORMED = "malformed"
    WRONG_TYPE = "wrong_type"
    BAD_SIGNATURE = "bad_signature"
    UNTRUSTED_SIGNER = "untrusted_signer"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    NO_EXPIRY = "no_expiry"
    WRONG_URI = "wrong_uri"
    INDEX_OUT_OF_RANGE = "index_out_of_range"
    UNDEFINED_STATUS = "undefined_status"


@dataclass(frozen=True)
class StatusAnswer:
    """The status of one index, or UNKNOWN with a reason (``detail``: a stable code of the
    underlying failure, e.g. a :class:`~keys.errors.SignerFailure` or a decoding rule)."""

    verdict: Verdict
    reason: UnknownReason | None = None
    detail: str | None = None
    index: int | None = None
    uri: str | None = None
    issued_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None

    @property
    def known(self) -> bool:
        return self.verdict is not Verdict.UNKNOWN


@dataclass(frozen=True)
class VerifiedStatusList:
    """A token whose signature, signer and times were checked at ``verified_at``."""

    token: StatusListToken
    verified_at: dt.datetime

    @property
    def refresh_at(self) -> dt.datetime:
        """When a cache must fetch a fresh list: ``ttl`` after verification, at most ``exp``
        (without ``ttl``: ``exp``)."""
        exp = self.token.expires_at
        assert exp is not None  # load_status_list refuses a list without exp
        if self.token.ttl is None:
            return exp
        return min(exp, self.verified_at + dt.timedelta(seconds=self.token.ttl))


def _unknown(reason: UnknownReason, detail: str | None = None) -> StatusListCheck:
    return StatusListCheck(None, reason, detail)


@dataclass(frozen=True)
class StatusListCheck:
    """The outcome of :func:`load_status_list`: a verified list, or why there is none."""

    status_list: VerifiedStatusList | None
    reason: UnknownReason | None = None
    detail: str | None = None

    def status_of(self, index: int, now: dt.datetime) -> StatusAnswer:
        """The status of ``index`` at ``now`` (a cached list goes UNKNOWN once expired)."""
        verified = self.status_list
        if verified is None:
            assert self.reason is not None
            return StatusAnswer(Verdict.UNKNOWN, self.reason, self.detail, index)
        token = verified.token

        def answer(
            verdict: Verdict, reason: UnknownReason | None = None, detail: str | None = None
        ) -> StatusAnswer:
            return StatusAnswer(
                verdict, reason, detail, index, token.sub, token.issued_at, token.expires_at
            )

        timing = _check_times(token, now)
        if timing is not None:
            return answer(Verdict.UNKNOWN, timing)
        try:
            value = token.status_list.get(index)
        except IndexError:
            return answer(Verdict.UNKNOWN, UnknownReason.INDEX_OUT_OF_RANGE)
        if value not in _VERDICT:  # 0x03, 0x0C-0x0F: application specific; others reserved
            return answer(Verdict.UNKNOWN, UnknownReason.UNDEFINED_STATUS, f"status_{value}")
        return answer(_VERDICT[Status(value)])


def _check_times(token: StatusListToken, now: dt.datetime) -> UnknownReason | None:
    stamp = now.timestamp()
    if token.exp is None:
        return UnknownReason.NO_EXPIRY
    if stamp < token.iat:
        return UnknownReason.NOT_YET_VALID
    if stamp > token.exp:
        return UnknownReason.EXPIRED
    return None


def load_status_list(
    token: bytes | None, trust: TrustList, now: dt.datetime, *, uri: str | None = None
) -> StatusListCheck:
    """Parse and verify a Status List Token at ``now`` against ``trust``.

    ``uri``: the ``uri`` of the permit's status reference; the token's ``sub`` must equal it
    (the draft's validation rule).  Never raises for a bad list: the check says why.
    """
    now = require_utc(now, "now")  # a naive datetime is the caller's bug: NaiveDateTime
    if token is None or not token:
        return _unknown(UnknownReason.NO_LIST)
    try:
        parsed = parse_token(token)
        chain = chain_certificates(parsed)
    except StatusListError as exc:
        reason = UnknownReason.WRONG_TYPE if exc.rule is StatusListCode.CWT_TYPE else None
        log.info("status list refused: %s", exc.code)
        return _unknown(reason or UnknownReason.MALFORMED, exc.code)
    leaf_key = chain[0].public_key()
    if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or not parsed.sign1.verify(leaf_key):
        log.info("status list refused: bad signature")
        return _unknown(UnknownReason.BAD_SIGNATURE)
    timing = _check_times(parsed, now)
    if timing is not None:
        return _unknown(timing)
    try:
        validate_status_signer(trust, chain, at=parsed.issued_at, now=now)
    except SignerValidationError as exc:
        log.info("status list refused: signer %s", exc.reason.value)
        return _unknown(UnknownReason.UNTRUSTED_SIGNER, exc.reason.value)
    if uri is not None and parsed.sub != uri:
        return _unknown(UnknownReason.WRONG_URI)
    return StatusListCheck(VerifiedStatusList(parsed, now))


def check_status(
    token: bytes | None,
    trust: TrustList,
    *,
    index: int,
    now: dt.datetime,
    uri: str | None = None,
) -> StatusAnswer:
    """The status of ``index`` in the list ``token`` at ``now`` (one call: verify and read)."""
    return load_status_list(token, trust, now, uri=uri).status_of(index, now)


_KIND = {Verdict.VALID: StatusKind.VALID, Verdict.INVALID: StatusKind.INVALID,
         Verdict.SUSPENDED: StatusKind.SUSPENDED}  # fmt: skip


def record_status(check: StatusListCheck) -> StatusLookup:
    """The record verifier's status source over one loaded list (``Verifier(status=...)``):
    a record's reference is answered from ``check`` when the list's ``sub`` is the
    reference's ``uri``, else ``wrong_uri``; every other "unknown" keeps its reason."""

    def lookup(reference: StatusReference, now: dt.datetime) -> ListStatus:
        verified = check.status_list
        if verified is not None and verified.token.sub != reference.uri:
            return ListStatus(StatusKind.UNKNOWN, UnknownReason.WRONG_URI.value)
        answer = check.status_of(reference.idx, now)
        if answer.verdict in _KIND:
            return ListStatus(_KIND[answer.verdict])
        reason = answer.reason.value if answer.reason is not None else "unknown"
        return ListStatus(StatusKind.UNKNOWN, reason)

    return lookup
