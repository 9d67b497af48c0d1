"""The Status List Token in CWT form (draft-ietf-oauth-status-list, "Status List Token in
CWT Format"): a COSE_Sign1 (ES256) over the CWT claims.

* protected header ``{1: -7, 16: "application/statuslist+cwt"}`` (alg ES256; ``16`` is the
  COSE ``typ`` header of RFC 9596, whose value the draft fixes), encoded deterministically;
* unprotected header ``{33: x5chain}``: the status-list signer's certificate (a bstr) or its
  chain (an array, signer first), as the record's COSE_Sign1 carries its document signer;
* payload: the CWT claims ``2`` sub (the list's URI), ``4`` exp, ``6`` iat, ``65533``
  status_list (the StatusList map) and ``65534`` ttl (seconds a consumer may cache it);
* the token is *not* tagged (the draft: "MUST not be tagged" with the CWT or COSE tags).
  The parser also accepts the COSE_Sign1 tag 18 that the draft's own CWT example carries.

Parsing is strict (record/cbor_types: no tags inside, no duplicate keys, no indefinite
lengths) and checks only shape; the signature, the signer and the times are
:mod:`card_service.status.verify`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.record.cbor_types import NO_TAGS, SIGN1_TAGS, TAG_SIGN1, CborError, loads
from card_service.record.cose import (
    ALG_ES256,
    HDR_ALG,
    HDR_CRIT,
    HDR_X5CHAIN,
    Sign1,
    der_to_raw,
    sig_structure,
    x5chain_value,
)
from keys.clock import require_utc

from .encoding import MAX_LIST_BYTES, StatusList, status_list_from_map
from .errors import StatusListBuildError, StatusListCode, StatusListError

__all__ = [
    "CLAIM_EXP",
    "CLAIM_IAT",
    "CLAIM_STATUS_LIST",
    "CLAIM_SUB",
    "CLAIM_TTL",
    "COAP_CONTENT_FORMAT",
    "HDR_TYP",
    "MEDIA_TYPE",
    "ListSigner",
    "StatusListToken",
    "encode_token",
    "parse_token",
]

#: COSE header ``typ`` (RFC 9596) and the value the draft requires.
HDR_TYP = 16
MEDIA_TYPE = "application/statuslist+cwt"
#: The CoAP Content-Format ID registered for the media type (the draft allows it as ``typ``).
COAP_CONTENT_FORMAT = 279
#: CWT claim keys (RFC 8392 and the draft's CWT claim registrations).
CLAIM_SUB = 2
CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_STATUS_LIST = 65533
CLAIM_TTL = 65534
#: The unprotected header may carry kid (4) beside x5chain; nothing else.
_HDR_KID = 4
_PROTECTED = cbor2.dumps({HDR_ALG: ALG_ES256, HDR_TYP: MEDIA_TYPE}, canonical=True)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
#: Longest accepted token: the largest list (MAX_LIST_BYTES inflated) compresses far below.
MAX_TOKEN_BYTES = 32 * 1024 * 1024


class ListSigner(Protocol):
    """What signs a list: ``keys.signer.DocumentSigner`` from ``KeyManager.status_signer``
    or a test's ``EphemeralSigner``."""

    @property
    def key(self) -> ec.EllipticCurvePrivateKey: ...

    @property
    def chain(self) -> tuple[x509.Certificate, ...]: ...


@dataclass(frozen=True)
class StatusListToken:
    """A parsed (not yet verified) Status List Token."""

    sign1: Sign1
    typ: str | int
    sub: str
    iat: int
    exp: int | None
    ttl: int | None
    status_list: StatusList

    @property
    def issued_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.iat, dt.UTC)

    @property
    def expires_at(self) -> dt.datetime | None:
        return None if self.exp is None else dt.datetime.fromtimestamp(self.exp, dt.UTC)


def _numeric_date(value: dt.datetime, name: str) -> int:
    try:
        return int(require_utc(value, name).timestamp())
    except ValueError as exc:
        raise StatusListBuildError(str(exc)) from None


def encode_token(
    status_list: StatusList,
    *,
    uri: str,
    signer: ListSigner,
    issued_at: dt.datetime,
    expires_at: dt.datetime,
    ttl: int,
) -> bytes:
    """Sign ``status_list`` as a Status List Token (untagged COSE_Sign1, ES256)."""
    if type(uri) is not str or not uri or not uri.isascii() or any(c.isspace() for c in uri):
        raise StatusListBuildError("the list URI must be a non-empty ASCII URI")
    if type(ttl) is not int or ttl <= 0:
        raise StatusListBuildError("ttl must be a positive number of seconds")
    iat, exp = _numeric_date(issued_at, "issued_at"), _numeric_date(expires_at, "expires_at")
    if exp <= iat:
        raise StatusListBuildError("the list must expire after it is issued")
    key, chain = signer.key, tuple(signer.chain)
    if not isinstance(key.curve, ec.SECP256R1) or not chain:
        raise StatusListBuildError("a status list is signed with ES256 and a certificate chain")
    point = serialization.PublicFormat.UncompressedPoint
    leaf = chain[0].public_key()
    if not isinstance(leaf, ec.EllipticCurvePublicKey) or leaf.public_bytes(
        serialization.Encoding.X962, point
    ) != key.public_key().public_bytes(serialization.Encoding.X962, point):
        raise StatusListBuildError("the first certificate of the chain is not the signing key's")
    claims = {  # in deterministic key order; the StatusList map as the draft writes it
        CLAIM_SUB: uri,
        CLAIM_EXP: exp,
        CLAIM_IAT: iat,
        CLAIM_STATUS_LIST: status_list.to_map(),
        CLAIM_TTL: ttl,
    }
    payload = cbor2.dumps(claims)
    ders = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    x5chain: bytes | list[bytes] = ders[0] if len(ders) == 1 else ders
    signature = der_to_raw(key.sign(sig_structure(_PROTECTED, payload), _ECDSA_SHA256))
    return cbor2.dumps([_PROTECTED, {HDR_X5CHAIN: x5chain}, payload, signature])


def _fail(message: str, code: StatusListCode = StatusListCode.CWT_MALFORMED) -> StatusListError:
    return StatusListError(message, code)


def _protected(protected: Any) -> str | int:
    """The checked protected header; returns its ``typ``."""
    if type(protected) is not bytes:
        raise _fail("protected header must be a byte string")
    try:
        header = loads(protected, NO_TAGS)
    except CborError as exc:
        raise _fail(f"protected header: {exc}") from None
    if type(header) is not dict:
        raise _fail("protected header must hold a map")
    if HDR_CRIT in header:
        raise _fail("protected header has a critical header (crit)")
    if any(k not in (HDR_ALG, HDR_TYP) for k in header):
        raise _fail("protected header has labels the format does not define")
    alg = header.get(HDR_ALG)
    if type(alg) is not int or alg != ALG_ES256:
        raise _fail("protected header alg must be ES256 (-7)", StatusListCode.CWT_ALG)
    typ = header.get(HDR_TYP)
    if not (
        (type(typ) is str and typ == MEDIA_TYPE)
        or (type(typ) is int and typ == COAP_CONTENT_FORMAT)
    ):
        raise _fail("type (16) is not application/statuslist+cwt", StatusListCode.CWT_TYPE)
    return typ


def _x5chain(unprotected: Any) -> tuple[bytes, ...]:
    if not isinstance(unprotected, Mapping):
        raise _fail("unprotected header must be a map")
    if any(k not in (HDR_X5CHAIN, _HDR_KID) for k in unprotected):
        raise _fail("unprotected header has labels the format does not define")
    chain = x5chain_value(unprotected.get(HDR_X5CHAIN))
    if chain is None:
        raise _fail("unprotected header must carry x5chain (33): the signer's certificate(s)")
    return chain


def _uint(claims: Mapping[Any, Any], key: int, name: str, *, required: bool) -> int | None:
    value = claims.get(key)
    if value is None and key not in claims and not required:
        return None
    if type(value) is not int or value < 0:
        raise _fail(f"claim {name} ({key}) must be an unsigned integer", StatusListCode.CWT_CLAIMS)
    return value


def parse_claims(payload: bytes, limit: int = MAX_LIST_BYTES) -> dict[str, Any]:
    """The CWT claims of a Status List Token payload, checked (other claims are ignored, as
    the draft allows): ``sub``, ``iat``, ``exp``, ``ttl`` and the decoded ``status_list``."""
    try:
        claims = loads(payload, NO_TAGS)
    except CborError as exc:
        raise _fail(f"CWT claims: {exc}", StatusListCode.CWT_CLAIMS) from None
    if type(claims) is not dict:
        raise _fail("the CWT claims must be a map", StatusListCode.CWT_CLAIMS)
    sub = claims.get(CLAIM_SUB)
    if type(sub) is not str or not sub:
        raise _fail("claim sub (2) must be the list's URI", StatusListCode.CWT_CLAIMS)
    iat = _uint(claims, CLAIM_IAT, "iat", required=True)
    exp = _uint(claims, CLAIM_EXP, "exp", required=False)
    ttl = _uint(claims, CLAIM_TTL, "ttl", required=False)
    if ttl is not None and ttl == 0:
        raise _fail("claim ttl (65534) must be positive", StatusListCode.CWT_CLAIMS)
    if CLAIM_STATUS_LIST not in claims:
        raise _fail("claim status_list (65533) is missing", StatusListCode.CWT_CLAIMS)
    status_list = status_list_from_map(claims[CLAIM_STATUS_LIST], limit)
    return {"sub": sub, "iat": iat, "exp": exp, "ttl": ttl, "status_list": status_list}


def parse_token(data: bytes, limit: int = MAX_LIST_BYTES) -> StatusListToken:
    """Parse a Status List Token's bytes (shape only; :class:`StatusListError` if broken)."""
    if type(data) is not bytes or not data:
        raise _fail("a Status List Token must be non-empty bytes")
    if len(data) > MAX_TOKEN_BYTES:
        raise _fail(f"a Status List Token is at most {MAX_TOKEN_BYTES} bytes")
    try:
        value = loads(data, SIGN1_TAGS)
    except CborError as exc:
        raise _fail(f"Status List Token: {exc}") from None
    if type(value) is cbor2.CBORTag and value.tag == TAG_SIGN1:
        value = value.value
    if type(value) is not list or len(value) != 4:
        raise _fail("a Status List Token must be a COSE_Sign1 (an array of 4)")
    protected, unprotected, payload, signature = value
    typ = _protected(protected)
    ders = _x5chain(unprotected)
    if type(payload) is not bytes:
        raise _fail("payload must be a byte string (not detached)")
    if type(signature) is not bytes or len(signature) != 64:
        raise _fail("ES256 signature must be 64 bytes")
    claims = parse_claims(payload, limit)
    return StatusListToken(Sign1(protected, ders, payload, signature), typ, **claims)


def chain_certificates(token: StatusListToken) -> Sequence[x509.Certificate]:
    """The x5chain certificates (signer first); :class:`StatusListError` if one is not DER."""
    try:
        return [x509.load_der_x509_certificate(der) for der in token.sign1.x5chain]
    except ValueError:
        raise _fail("x5chain holds bytes that are not a DER certificate") from None
