"""The Status List Token (CWT) built, parsed and verified; every way to "status unknown"
answers UNKNOWN with its reason (never an exception, never VALID or INVALID)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.record.cose import der_to_raw, sig_structure
from card_service.record.ephemeral_pki import EphemeralPki, EphemeralSigner
from card_service.status import (
    MEDIA_TYPE,
    Status,
    StatusListBuildError,
    StatusListError,
    UnknownReason,
    Verdict,
    build_status_list,
    check_status,
    load_status_list,
    parse_token,
)
from card_service.status.encoding import StatusList, pack
from card_service.status.token import _PROTECTED, encode_token
from keys.clock import NaiveDateTime

from . import vectors as v

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
URI = "https://permit.example/status/1"


@pytest.fixture(scope="module")
def pki() -> EphemeralPki:
    return EphemeralPki.create(NOW - 10 * HOUR)


@pytest.fixture(scope="module")
def signer(pki: EphemeralPki) -> EphemeralSigner:
    return pki.new_status_signer(NOW - HOUR)


def token(signer: EphemeralSigner, **kwargs: Any) -> bytes:
    statuses = kwargs.pop("statuses", {3: Status.INVALID, 4: Status.SUSPENDED})
    return build_status_list(statuses, kwargs.pop("size", 16), URI, signer, NOW, **kwargs)


def raw_token(
    signer: EphemeralSigner, header: dict[int, Any], claims: dict[int, Any], **extra: Any
) -> bytes:
    """A COSE_Sign1 signed correctly over any protected header and claims."""
    protected = cbor2.dumps(header, canonical=True)
    payload = cbor2.dumps(claims)
    signature = der_to_raw(
        signer.key.sign(sig_structure(protected, payload), ec.ECDSA(hashes.SHA256()))
    )
    der = signer.certificate.public_bytes(serialization.Encoding.DER)
    return cbor2.dumps([protected, extra.get("unprotected", {33: der}), payload, signature])


def claims(**overrides: Any) -> dict[int, Any]:
    base = {
        2: URI,
        4: int((NOW + 24 * HOUR).timestamp()),
        6: int(NOW.timestamp()),
        65533: StatusList.build({1: Status.INVALID}, 8).to_map(),
        65534: 3600,
    }
    for key, value in overrides.items():
        number = int(key.removeprefix("c"))
        if value is None:
            base.pop(number)
        else:
            base[number] = value
    return base


def test_token_shape(signer: EphemeralSigner) -> None:
    data = token(signer)
    value = cbor2.loads(data)
    assert type(value) is list and len(value) == 4  # untagged COSE_Sign1, as the draft says
    assert value[0] == _PROTECTED == bytes.fromhex(v.CWT_EXAMPLE_PROTECTED)
    assert cbor2.loads(value[0]) == {1: -7, 16: MEDIA_TYPE}
    assert set(value[1]) == {33}
    payload = cbor2.loads(value[2])
    assert list(payload) == [2, 4, 6, 65533, 65534]
    assert payload[2] == URI and payload[6] == int(NOW.timestamp())
    assert payload[4] - payload[6] == 24 * 3600 and payload[65534] == 3600
    assert list(payload[65533]) == ["bits", "lst"] and payload[65533]["bits"] == 2
    parsed = parse_token(data)
    assert parsed.sub == URI and parsed.issued_at == NOW and parsed.ttl == 3600
    assert [parsed.status_list.get(i) for i in range(6)] == [0, 0, 0, 1, 2, 0]


def test_statuses_and_caching(pki: EphemeralPki, signer: EphemeralSigner) -> None:
    data = token(signer, ttl=600)
    trust = pki.trust(NOW)
    later = NOW + HOUR
    answers = {i: check_status(data, trust, index=i, now=later, uri=URI) for i in (0, 3, 4)}
    assert answers[0].verdict is Verdict.VALID and answers[0].known
    assert answers[3].verdict is Verdict.INVALID and answers[3].reason is None
    assert answers[4].verdict is Verdict.SUSPENDED
    assert answers[3].uri == URI and answers[3].expires_at == NOW + 24 * HOUR
    check = load_status_list(data, trust, later, uri=URI)
    assert check.status_list is not None
    assert check.status_list.refresh_at == later + dt.timedelta(seconds=600)
    long_ttl = load_status_list(token(signer, ttl=10**6), trust, later).status_list
    assert long_ttl is not None and long_ttl.refresh_at == NOW + 24 * HOUR  # never past exp
    # a cached list answers until exp, then UNKNOWN (expired), never the stale status
    assert check.status_of(3, NOW + 24 * HOUR).verdict is Verdict.INVALID
    stale = check.status_of(3, NOW + 24 * HOUR + dt.timedelta(seconds=1))
    assert stale.verdict is Verdict.UNKNOWN and stale.reason is UnknownReason.EXPIRED


def unknown(data: bytes | None, trust: Any, reason: UnknownReason, **kwargs: Any) -> None:
    answer = check_status(data, trust, **{"index": 3, "now": NOW + HOUR, **kwargs})
    assert answer.verdict is Verdict.UNKNOWN and not answer.known
    assert answer.reason is reason, answer


def test_no_list_and_malformed(pki: EphemeralPki, signer: EphemeralSigner) -> None:
    trust = pki.trust(NOW)
    unknown(None, trust, UnknownReason.NO_LIST)
    unknown(b"", trust, UnknownReason.NO_LIST)
    unknown(b"\xff\x00garbage", trust, UnknownReason.MALFORMED)
    data = token(signer)
    unknown(data[:-1], trust, UnknownReason.MALFORMED)
    unknown(data + b"\x00", trust, UnknownReason.MALFORMED)
    unknown(cbor2.dumps(cbor2.CBORTag(61, cbor2.loads(data))), trust, UnknownReason.MALFORMED)
    # the draft's own CWT example carries tag 18: accepted
    tagged = cbor2.dumps(cbor2.CBORTag(18, cbor2.loads(data)))
    assert check_status(tagged, trust, index=3, now=NOW + HOUR).verdict is Verdict.INVALID


def test_header_rules(pki: EphemeralPki, signer: EphemeralSigner) -> None:
    trust = pki.trust(NOW)
    unknown(raw_token(signer, {1: -7, 16: "application/cwt"}, claims()), trust,
            UnknownReason.WRONG_TYPE)  # fmt: skip
    unknown(raw_token(signer, {1: -7}, claims()), trust, UnknownReason.WRONG_TYPE)
    unknown(raw_token(signer, {1: -35, 16: MEDIA_TYPE}, claims()), trust, UnknownReason.MALFORMED)
    unknown(raw_token(signer, {1: -7, 2: [16], 16: MEDIA_TYPE}, claims()), trust,
            UnknownReason.MALFORMED)  # fmt: skip
    unknown(raw_token(signer, {1: -7, 16: MEDIA_TYPE}, claims(), unprotected={}), trust,
            UnknownReason.MALFORMED)  # fmt: skip
    # the registered CoAP Content-Format ID may stand for the media type (draft, 5.2)
    coap = raw_token(signer, {1: -7, 16: 279}, claims())
    assert check_status(coap, trust, index=1, now=NOW + HOUR).verdict is Verdict.INVALID
    with pytest.raises(StatusListError) as caught:
        parse_token(raw_token(signer, {1: -7, 16: "x"}, claims()))
    assert caught.value.code == "status_token_type"


def test_claim_rules(pki: EphemeralPki, signer: EphemeralSigner) -> None:
    trust = pki.trust(NOW)
    header = {1: -7, 16: MEDIA_TYPE}
    for broken in ({"c2": None}, {"c6": None}, {"c65533": None}, {"c6": "now"},
                   {"c4": -1}, {"c65534": 0}, {"c2": 7}, {"c65533": b"lst"}):  # fmt: skip
        unknown(raw_token(signer, header, claims(**broken)), trust, UnknownReason.MALFORMED)
    # other claims are allowed (the draft: "The CWT MAY contain other claims")
    extra = raw_token(signer, header, {**claims(), 1: "https://issuer.example", 99: [1, 2]})
    assert check_status(extra, trust, index=1, now=NOW + HOUR).verdict is Verdict.INVALID
    # a list without exp would never go stale: unknown for this verifier
    unknown(raw_token(signer, header, claims(c4=None)), trust, UnknownReason.NO_EXPIRY)
    # a status the draft reserves or leaves to applications is not a verdict
    odd = encode_token(StatusList(2, pack(bytes([3]), 2)), uri=URI, signer=signer,
                       issued_at=NOW, expires_at=NOW + HOUR * 2, ttl=60)  # fmt: skip
    answer = check_status(odd, trust, index=0, now=NOW + HOUR)
    assert answer.reason is UnknownReason.UNDEFINED_STATUS and answer.detail == "status_3"


def test_signature_signer_times_uri_index(pki: EphemeralPki, signer: EphemeralSigner) -> None:
    trust = pki.trust(NOW)
    data = bytearray(token(signer))
    data[-1] ^= 1
    unknown(bytes(data), trust, UnknownReason.BAD_SIGNATURE)
    good = token(signer)
    unknown(good, trust, UnknownReason.NOT_YET_VALID, now=NOW - dt.timedelta(seconds=1))
    unknown(good, trust, UnknownReason.EXPIRED, now=NOW + 24 * HOUR + dt.timedelta(seconds=1))
    unknown(good, trust, UnknownReason.WRONG_URI, uri="https://permit.example/status/2")
    unknown(good, trust, UnknownReason.INDEX_OUT_OF_RANGE, index=16)
    # another authority's status signer, and this authority's document signer
    other = EphemeralPki.create(NOW - 10 * HOUR).new_status_signer(NOW - HOUR)
    unknown(token(other), trust, UnknownReason.UNTRUSTED_SIGNER)
    document = pki.new_signer(NOW - HOUR)
    answer = check_status(token(document), trust, index=3, now=NOW + HOUR)
    assert answer.reason is UnknownReason.UNTRUSTED_SIGNER and answer.detail == "chain_invalid"
    # a revoked status signer
    revoked = pki.new_status_signer(NOW - HOUR)
    pki.revoke(revoked, NOW - HOUR)
    answer = check_status(token(revoked), pki.trust(NOW), index=3, now=NOW + HOUR)
    assert answer.reason is UnknownReason.UNTRUSTED_SIGNER and answer.detail == "revoked"


def test_build_refusals(signer: EphemeralSigner, pki: EphemeralPki) -> None:
    for kwargs in ({"ttl": 0}, {"ttl": -5}, {"lifetime": dt.timedelta(0)},
                   {"statuses": {16: 1}}, {"statuses": {0: 3}}):  # fmt: skip
        with pytest.raises(StatusListBuildError):
            token(signer, **kwargs)
    with pytest.raises(StatusListBuildError):
        build_status_list({}, 4, "", signer, NOW)
    with pytest.raises(StatusListBuildError):
        build_status_list({}, 4, "has space", signer, NOW)
    with pytest.raises((StatusListBuildError, NaiveDateTime)):
        build_status_list({}, 4, URI, signer, NOW.replace(tzinfo=None))
    mismatched = EphemeralSigner(signer.key, pki.new_signer(NOW - HOUR).chain)
    with pytest.raises(StatusListBuildError, match="chain"):
        build_status_list({}, 4, URI, mismatched, NOW)
    with pytest.raises(NaiveDateTime):
        check_status(token(signer), pki.trust(NOW), index=0, now=NOW.replace(tzinfo=None))
