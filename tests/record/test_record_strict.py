"""Strict parsing of what comes from outside: COSE headers, CBOR tags, deterministic encoding.

Every record here is *correctly signed* by the trusted document signer (the attacker is an
insider with a signing key, or the test plays the issuer): only the format is wrong, so a
VALID verdict means the parser is looser than docs/record-format.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes, serialization

from card_service.record import NAMESPACE, Verdict, endorse
from card_service.record.cbor_types import CborError, loads
from card_service.record.cose import der_to_raw, sig_structure

from .conftest import NOW, World, make_world


def codes(result: Any) -> set[str]:
    return {r.code for r in result.reasons}


def _ecdsa() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.ECDSA(hashes.SHA256())


def _der_chain(w: World) -> bytes:
    return w.signer.chain[0].public_bytes(serialization.Encoding.DER)


def sign_raw(w: World, protected: bytes, payload: bytes) -> bytes:
    """An ES256 signature by the trusted DS over any protected header and payload."""
    return der_to_raw(w.signer.key.sign(sig_structure(protected, payload), _ecdsa()))


def parts(record: bytes) -> tuple[list[bytes], list[Any]]:
    """The items (tag-24 contents) and issuerAuth of a record, decoded loosely."""
    top = cbor2.loads(record)
    return [t.value for t in top["nameSpaces"][NAMESPACE]], list(top["issuerAuth"])


def mso_of(record: bytes) -> dict[str, Any]:
    _, auth = parts(record)
    return dict(cbor2.loads(cbor2.loads(auth[2]).value))


def tag24_head(n: int) -> bytes:
    return b"\xd8\x18" + cbor2.dumps(bytes(n))[: -n or None]


def build(
    w: World,
    *,
    items: list[bytes] | None = None,
    mso: dict[str, Any] | None = None,
    mso_inner: bytes | None = None,
    protected: bytes = b"\xa1\x01\x26",
    unprotected: Any = None,
    resign_digests: bool = True,
) -> bytes:
    """Re-sign ``w.record`` with edited parts (digests recomputed over the given items)."""
    old_items, _ = parts(w.record)
    items = old_items if items is None else items
    mso = mso_of(w.record) if mso is None else mso
    if resign_digests:
        digests = {}
        for item in items:
            digest_id = cbor2.loads(item)["digestID"]
            digests[digest_id] = hashlib.sha256(tag24_head(len(item)) + item).digest()
        mso["valueDigests"] = {NAMESPACE: dict(sorted(digests.items()))}
    inner = mso_inner if mso_inner is not None else cbor2.dumps(mso, canonical=True)
    payload = cbor2.dumps(cbor2.CBORTag(24, inner))
    header = {33: _der_chain(w)} if unprotected is None else unprotected
    auth = [protected, header, payload, sign_raw(w, protected, payload)]
    return cbor2.dumps(
        {"nameSpaces": {NAMESPACE: [cbor2.CBORTag(24, i) for i in items]}, "issuerAuth": auth},
        canonical=True,
    )


@pytest.fixture(scope="module")
def sw() -> World:
    return make_world(seed=21)


def test_rebuilt_record_is_valid(sw: World) -> None:
    """The harness itself produces VALID records (so every refusal below is the rule's)."""
    assert sw.verifier().verify(build(sw), now=NOW).verdict is Verdict.VALID


# -- 1. COSE headers ----------------------------------------------------------------------

PROTECTED_MUTANTS = {
    "alg_float": cbor2.dumps({1: -7.0}),
    "alg_float_double": b"\xa1\x01\xfb\xc0\x1c" + bytes(6),
    "alg_text": cbor2.dumps({1: "ES256"}),
    "alg_other": cbor2.dumps({1: -35}),
    "alg_missing": cbor2.dumps({4: b"kid"}),
    "crit_unknown": cbor2.dumps({1: -7, 2: [99]}, canonical=True),
    "crit_alg": cbor2.dumps({1: -7, 2: [1]}, canonical=True),
    "extra_label": cbor2.dumps({1: -7, 4: b"kid"}, canonical=True),
    "extra_text_label": cbor2.dumps({1: -7, "x": 1}, canonical=True),
    "x5chain_protected": cbor2.dumps({1: -7, 33: b"\x30"}, canonical=True),
    "alg_non_shortest": b"\xa1\x01\x38\x06",
    "indefinite_map": b"\xbf\x01\x26\xff",
    "duplicate_alg": b"\xa2\x01\x26\x01\x26",
    "tagged_map": b"\xd8\x18\xa1\x01\x26",
    "trailing": b"\xa1\x01\x26\x00",
    "empty": b"",
    "empty_map": b"\xa0",
    "array": b"\x81\x26",
}


@pytest.mark.parametrize("name", sorted(PROTECTED_MUTANTS))
def test_protected_header_outside_the_profile_is_refused(sw: World, name: str) -> None:
    record = build(sw, protected=PROTECTED_MUTANTS[name])
    result = sw.verifier().verify(record, now=NOW)
    assert result.verdict is Verdict.MALFORMED, (name, result.reasons)
    assert any(c.startswith("issuer_auth_") for c in codes(result)), result.reasons
    assert not result.elements


def test_protected_header_reasons_are_specific(sw: World) -> None:
    def code_of(protected: bytes) -> set[str]:
        return codes(sw.verifier().verify(build(sw, protected=protected), now=NOW))

    assert "issuer_auth_crit" in code_of(PROTECTED_MUTANTS["crit_unknown"])
    assert "issuer_auth_alg" in code_of(PROTECTED_MUTANTS["alg_float"])
    assert "issuer_auth_header_unknown" in code_of(PROTECTED_MUTANTS["extra_label"])
    assert "issuer_auth_header_encoding" in code_of(PROTECTED_MUTANTS["alg_non_shortest"])


UNPROTECTED_MUTANTS: dict[str, Callable[[bytes], Any]] = {
    "extra_label": lambda der: {33: der, 4: b"kid"},
    "crit_unprotected": lambda der: {33: der, 2: [99]},
    "alg_unprotected": lambda der: {33: der, 1: -7},
    "text_label": lambda der: {33: der, "33": der},
    "no_x5chain": lambda der: {},
    "x5chain_empty_array": lambda der: {33: []},
    "x5chain_text": lambda der: {33: "cert"},
}


@pytest.mark.parametrize("name", sorted(UNPROTECTED_MUTANTS))
def test_unprotected_header_outside_the_profile_is_refused(sw: World, name: str) -> None:
    record = build(sw, unprotected=UNPROTECTED_MUTANTS[name](_der_chain(sw)))
    result = sw.verifier().verify(record, now=NOW)
    assert result.verdict is Verdict.MALFORMED, (name, result.reasons)
    assert any(c.startswith("issuer_auth_") for c in codes(result)), result.reasons


def test_tagged_issuer_auth_is_refused(sw: World) -> None:
    top = cbor2.loads(sw.record)
    top["issuerAuth"] = cbor2.CBORTag(18, top["issuerAuth"])
    result = sw.verifier().verify(cbor2.dumps(top, canonical=True), now=NOW)
    assert result.verdict is Verdict.MALFORMED


def _endorsement(w: World, protected: bytes, unprotected: Any = None) -> bytes:
    """A correctly signed endorsement item with another header."""
    due = w.data.first_endorsement_due
    when = dt.datetime(due.year, due.month, due.day, 2, tzinfo=dt.UTC) - dt.timedelta(days=3)
    good = endorse(w.record, b"", signer_key=w.signer.key, signer_chain=w.signer.chain, now=when)
    payload = cbor2.loads(good).value[2]
    header = {33: _der_chain(w)} if unprotected is None else unprotected
    signature = sign_raw(w, protected, payload)
    return cbor2.dumps(cbor2.CBORTag(18, [protected, header, payload, signature]))


@pytest.mark.parametrize("name", ["alg_float", "crit_unknown", "extra_label", "alg_non_shortest"])
def test_endorsement_headers_follow_the_same_rules(sw: World, name: str) -> None:
    good = _endorsement(sw, b"\xa1\x01\x26")
    due = sw.data.first_endorsement_due
    later = dt.datetime(due.year, due.month, due.day, tzinfo=dt.UTC) + dt.timedelta(days=30)
    verifier = sw.verifier(later)
    assert verifier.verify(sw.record, now=later, endorsements=good).verdict is Verdict.VALID
    bad = _endorsement(sw, PROTECTED_MUTANTS[name])
    result = verifier.verify(sw.record, now=later, endorsements=bad)
    assert result.verdict is Verdict.MALFORMED, (name, result.reasons)
    assert any(c.startswith("endorsement_") for c in codes(result))
    extra = _endorsement(sw, b"\xa1\x01\x26", {33: _der_chain(sw), 4: b"kid"})
    assert verifier.verify(sw.record, now=later, endorsements=extra).verdict is Verdict.MALFORMED


# -- 2. CBOR tags, lengths and deterministic encoding ----------------------------------------

TAG_VALUES = {
    "mime_36": cbor2.CBORTag(36, "Content-Type: text/plain\n\nhello"),
    "regex_35": cbor2.CBORTag(35, "(a+)+$"),
    "set_258": cbor2.CBORTag(258, [1, 2]),
    "bignum_2": cbor2.CBORTag(2, b"\x01" + bytes(20)),
    "decimal_4": cbor2.CBORTag(4, [-2, 27315]),
    "epoch_1": cbor2.CBORTag(1, 1_700_000_000),
    "uuid_37": cbor2.CBORTag(37, bytes(16)),
    "ip_260": cbor2.CBORTag(260, b"\x7f\x00\x00\x01"),
    "unknown_99": cbor2.CBORTag(99, 1),
    "self_describe_55799": cbor2.CBORTag(55799, 1),
}


@pytest.mark.parametrize("name", sorted(TAG_VALUES))
def test_unused_tags_are_refused_in_a_signed_item(sw: World, name: str) -> None:
    items, _ = parts(sw.record)
    item = dict(cbor2.loads(items[0]))
    item["elementValue"] = TAG_VALUES[name]
    items[0] = cbor2.dumps(item)
    result = sw.verifier().verify(build(sw, items=items), now=NOW)
    assert result.verdict is Verdict.MALFORMED, (name, result.reasons)


def test_shared_references_are_refused_before_any_signature_check(sw: World) -> None:
    # 28(shareable) / 29(sharedref): a cyclic list as the nameSpaces value
    cyclic = b"\xd8\x1c\x81\xd8\x1d\x00"
    raw = b"\xa2" + cbor2.dumps("issuerAuth") + b"\x80" + cbor2.dumps("nameSpaces") + cyclic
    result = sw.verifier().verify(raw, now=NOW)
    assert result.verdict is Verdict.MALFORMED


def test_strict_decoder_never_runs_semantic_decoders() -> None:
    for name, value in TAG_VALUES.items():
        with pytest.raises(CborError):
            loads(cbor2.dumps(value))
        assert name


def test_non_shortest_tag24_head_is_refused(sw: World) -> None:
    """The old verifier hashed a re-encoded head: ``d8 18 59 00 05 ...`` verified VALID."""
    items, _ = parts(sw.record)
    # an item whose shortest head is 58 xx (the order is random: the portrait may come first)
    first = next(item for item in items if 24 <= len(item) < 256)
    long_head = b"\xd8\x18\x59" + len(first).to_bytes(2, "big")
    short = tag24_head(len(first)) + first
    record = sw.record.replace(short, long_head + first, 1)
    assert record != sw.record
    result = sw.verifier().verify(record, now=NOW)
    assert result.verdict is not Verdict.VALID, result.reasons
    assert result.verdict is Verdict.MALFORMED


def test_reencoded_item_fails_its_digest(sw: World) -> None:
    """Same value, other bytes (a non-shortest digestID): the digest is over the bytes."""
    items, _ = parts(sw.record)
    value = cbor2.loads(items[3])
    encoded = cbor2.dumps(value)
    did = value["digestID"]
    shortest = b"\x68digestID" + cbor2.dumps(did)
    assert shortest in encoded
    other = encoded.replace(shortest, b"\x68digestID\x1b" + did.to_bytes(8, "big"))
    assert cbor2.loads(other) == value and other != items[3]
    items[3] = other
    result = sw.verifier().verify(build(sw, items=items, resign_digests=False), now=NOW)
    assert "digest_mismatch" in codes(result), result.reasons
    assert result.verdict in (Verdict.FORGED, Verdict.MALFORMED)


def test_signed_but_non_deterministic_item_is_refused(sw: World) -> None:
    """Even the issuer's own signature does not make a non-deterministic item acceptable."""
    items, _ = parts(sw.record)
    value = cbor2.loads(items[3])
    did = value["digestID"]
    items[3] = cbor2.dumps(value).replace(
        b"\x68digestID" + cbor2.dumps(did), b"\x68digestID\x1b" + did.to_bytes(8, "big")
    )
    result = sw.verifier().verify(build(sw, items=items), now=NOW)
    assert result.verdict is Verdict.MALFORMED, result.reasons


def test_signed_item_with_unsorted_keys_is_refused(sw: World) -> None:
    items, _ = parts(sw.record)
    value = cbor2.loads(items[2])
    items[2] = cbor2.dumps(dict(reversed(list(value.items()))))
    assert items[2] != cbor2.dumps(value, canonical=True)
    result = sw.verifier().verify(build(sw, items=items), now=NOW)
    assert result.verdict is Verdict.MALFORMED, result.reasons


def test_signed_mso_non_deterministic_is_refused(sw: World) -> None:
    mso = mso_of(sw.record)
    inner = cbor2.dumps(dict(reversed(list(mso.items()))))
    result = sw.verifier().verify(build(sw, mso=mso, mso_inner=inner), now=NOW)
    assert result.verdict is Verdict.MALFORMED, result.reasons


def test_indefinite_lengths_are_refused(sw: World) -> None:
    items, _ = parts(sw.record)
    value = cbor2.loads(items[0])
    indefinite = b"\xbf" + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in value.items())
    items[0] = indefinite + b"\xff"
    result = sw.verifier().verify(build(sw, items=items), now=NOW)
    assert result.verdict is Verdict.MALFORMED


def test_tdate_with_fraction_or_offset_is_refused(sw: World) -> None:
    for text in ("2026-11-28T03:00:00.5Z", "2026-11-28T11:00:00+08:00", "2026-11-28T03:00Z"):
        mso = mso_of(sw.record)
        mso["validityInfo"] = dict(mso["validityInfo"])
        mso["validityInfo"]["signed"] = cbor2.CBORTag(0, text)
        result = sw.verifier().verify(build(sw, mso=mso), now=NOW)
        assert result.verdict is Verdict.MALFORMED, (text, result.reasons)


def test_mso_with_undefined_keys_is_refused(sw: World) -> None:
    mso = mso_of(sw.record)
    mso["status"] = "ok"
    assert sw.verifier().verify(build(sw, mso=mso), now=NOW).verdict is Verdict.MALFORMED
    mso = mso_of(sw.record)
    info = dict(mso["validityInfo"])
    info["expectedUpdate"] = info["validUntil"]
    mso["validityInfo"] = info
    assert sw.verifier().verify(build(sw, mso=mso), now=NOW).verdict is Verdict.MALFORMED
