"""Record format 2: the MSO's status reference (draft-ietf-oauth-status-list, "ISO mdoc"),
written exactly as the draft's own example encodes it, parsed strictly; format 1 records
(no status) still verify."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from card_service.record import StatusReference, Verdict, sign_record
from card_service.record.cbor_types import embedded_bytes
from card_service.record.cose import parse_sign1, sign1
from card_service.record.issuer_signed import encode_record
from card_service.record.mso import MSO_VERSION_1, MSO_VERSION_2, MsoError, parse_mso
from card_service.record.record_parser import decode_record
from card_service.record.status_ref import MAX_INDEX, StatusError

from .conftest import NOW, SIGNED, World

URI = "https://permit.example/v1/status-list"

#: The draft's mdoc example (section "ISO mdoc", the IssuerAuth in hex): the bytes of the
#: MSO's "status" key and value, for idx 412 and uri "https://example.com/statuslists/1".
DRAFT_STATUS_ENTRY = bytes.fromhex(
    "66737461747573a16b7374617475735f6c697374a26369647819019c637572697821"
    "68747470733a2f2f6578616d706c652e636f6d2f7374617475736c697374732f31"
)


def signed(world: World, reference: StatusReference | None) -> bytes:
    return sign_record(
        world.data,
        card_key=world.card.public_key(),
        signer_key=world.signer.key,
        signer_chain=world.signer.chain,
        now=SIGNED,
        status=reference,
    )


def mso_of(record: bytes) -> tuple[bytes, dict[str, Any]]:
    """The payload (MobileSecurityObjectBytes) and the decoded MSO map of a record."""
    payload = parse_sign1(decode_record(record).issuer_auth).payload
    inner = cbor2.loads(payload).value
    return payload, cbor2.loads(inner)


def resigned(world: World, record: bytes, mso_bytes: bytes) -> bytes:
    """``record`` with its MSO replaced by ``mso_bytes`` (the inner CBOR), correctly signed:
    only the format rules can refuse it."""
    decoded = decode_record(record)
    items = {ns: [bytes(b) for b in entries] for ns, entries in decoded.received.items()}
    inner = {ns: [cbor2.loads(b).value for b in entries] for ns, entries in items.items()}
    auth = sign1(embedded_bytes(mso_bytes), world.signer.key, world.signer.chain)
    return encode_record(inner, auth)


def test_the_status_entry_is_the_drafts_own_encoding() -> None:
    reference = StatusReference(412, "https://example.com/statuslists/1")
    assert cbor2.dumps("status") + cbor2.dumps(reference.to_cbor()) == DRAFT_STATUS_ENTRY


def test_a_format2_record_carries_its_reference_first_in_the_mso(world: World) -> None:
    record = signed(world, StatusReference(7, URI))
    payload, mso = mso_of(record)
    assert mso["version"] == MSO_VERSION_2 == "2.0"
    assert mso["status"] == {"status_list": {"idx": 7, "uri": URI}}
    assert next(iter(mso)) == "status"  # deterministic order: the shortest key first
    expected = cbor2.dumps("status") + cbor2.dumps({"status_list": {"idx": 7, "uri": URI}})
    assert expected in payload
    info = parse_mso(payload)
    assert info.version == "2.0" and info.status == StatusReference(7, URI)
    result = world.verifier().verify(record, now=NOW)
    assert result.verdict is Verdict.VALID, result.reasons
    assert (result.status_index, result.status_uri, result.record_format) == (7, URI, 2)


def test_a_format1_record_still_verifies(world: World) -> None:
    _, mso = mso_of(world.record)
    assert mso["version"] == MSO_VERSION_1 and "status" not in mso
    result = world.verifier().verify(world.record, now=NOW)
    assert result.verdict is Verdict.VALID
    assert result.status_index is None and result.record_format == 1


def _with(mso: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(mso)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


BAD_STATUS: list[tuple[str, Any]] = [
    ("not a map", 7),
    ("no mechanism", {}),
    ("another mechanism too", {"status_list": {"idx": 1, "uri": URI}, "other": 1}),
    ("only another mechanism", {"identifier_list": {"id": b"x", "uri": URI}}),
    ("info not a map", {"status_list": [1, URI]}),
    ("idx missing", {"status_list": {"uri": URI}}),
    ("uri missing", {"status_list": {"idx": 1}}),
    ("extra key", {"status_list": {"idx": 1, "uri": URI, "x": 0}}),
    ("negative idx", {"status_list": {"idx": -1, "uri": URI}}),
    ("huge idx", {"status_list": {"idx": MAX_INDEX, "uri": URI}}),
    ("bool idx", {"status_list": {"idx": True, "uri": URI}}),
    ("text idx", {"status_list": {"idx": "1", "uri": URI}}),
    ("bytes uri", {"status_list": {"idx": 1, "uri": URI.encode()}}),
    ("empty uri", {"status_list": {"idx": 1, "uri": ""}}),
    ("relative uri", {"status_list": {"idx": 1, "uri": "/v1/status-list"}}),
    ("space in uri", {"status_list": {"idx": 1, "uri": "https://a.example/x y"}}),
    ("control in uri", {"status_list": {"idx": 1, "uri": "https://a.example/\n"}}),
    ("non-ascii uri", {"status_list": {"idx": 1, "uri": "https://例え.example/"}}),
    ("long uri", {"status_list": {"idx": 1, "uri": "https://a.example/" + "a" * 240}}),
]


@pytest.mark.parametrize(("case", "status"), BAD_STATUS, ids=[c for c, _ in BAD_STATUS])
def test_a_bad_status_reference_is_malformed(world: World, case: str, status: Any) -> None:
    record = signed(world, StatusReference(3, URI))
    _, mso = mso_of(record)
    forged = resigned(world, record, cbor2.dumps(_with(mso, status=status), canonical=True))
    result = world.verifier().verify(forged, now=NOW)
    assert result.verdict is Verdict.MALFORMED
    assert [r.code for r in result.reasons] == ["mso_status"], case


def test_version2_without_status_and_version1_with_it_are_refused(world: World) -> None:
    record = signed(world, StatusReference(3, URI))
    _, mso = mso_of(record)
    for changed, code in (
        (_with(mso, status=None), "mso_status"),
        (_with(mso, version=MSO_VERSION_1), "mso_keys"),
        (_with(mso, version="3.0"), "mso_version"),
        (_with(mso, version=2), "mso_version"),
    ):
        payload = embedded_bytes(cbor2.dumps(changed, canonical=True))
        with pytest.raises(MsoError) as caught:
            parse_mso(payload)
        assert caught.value.code == code
        forged = resigned(world, record, cbor2.dumps(changed, canonical=True))
        assert world.verifier().verify(forged, now=NOW).verdict is Verdict.MALFORMED


def test_the_status_reference_must_be_in_deterministic_encoding(world: World) -> None:
    record = signed(world, StatusReference(3, URI))
    _, mso = mso_of(record)
    # uri before idx: a valid map, not the deterministic order
    swapped = _with(mso, status={"status_list": {"uri": URI, "idx": 3}})
    body = cbor2.dumps(swapped, canonical=False)
    with pytest.raises(MsoError) as caught:
        parse_mso(embedded_bytes(body))
    assert caught.value.code in ("mso_status", "mso_encoding")
    # idx 3 in a two-byte head (not the shortest form)
    canonical = cbor2.dumps(mso, canonical=True)
    shortest = cbor2.dumps("idx") + b"\x03"
    assert canonical.count(shortest) == 1
    long_head = canonical.replace(shortest, cbor2.dumps("idx") + b"\x18\x03")
    with pytest.raises(MsoError) as caught:
        parse_mso(embedded_bytes(long_head))
    assert caught.value.code == "mso_encoding"
    forged = resigned(world, record, long_head)
    assert world.verifier().verify(forged, now=NOW).verdict is Verdict.MALFORMED


@pytest.mark.parametrize(
    ("idx", "uri"),
    [(-1, URI), (MAX_INDEX, URI), (True, URI), (1, "no scheme"), (1, ""), (1, "a:" + "b" * 300)],
)
def test_a_bad_reference_is_never_signed(world: World, idx: Any, uri: Any) -> None:
    with pytest.raises(StatusError):
        StatusReference(idx, uri)
