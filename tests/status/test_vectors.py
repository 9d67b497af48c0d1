"""The draft's own test vectors (draft-ietf-oauth-status-list, Appendix "Test vectors for
Status List encoding", C.1 1-bit and C.2 2-bit; section 4.1 "Compressed Byte Array" and the
CWT example of section 5.2): see tests/status/vectors.py for where each byte comes from.

Decoding must give the listed statuses and VALID everywhere else; encoding the statuses must
decode the same, and with ZLIB at the highest level (the draft's recommendation, and what
its examples use: header 78 da) it gives the draft's bytes exactly.
"""

from __future__ import annotations

import base64
import zlib

import pytest

from card_service.record.cbor_types import loads
from card_service.status.encoding import (
    StatusList,
    compress,
    decode_status_list,
    decompress,
    pack,
    unpack,
)
from card_service.status.token import (
    CLAIM_STATUS_LIST,
    HDR_TYP,
    MEDIA_TYPE,
    parse_claims,
)

from . import vectors as v


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


VECTORS = [
    pytest.param(1, v.STATUSES_1BIT, v.CBOR_1BIT, v.JSON_LST_1BIT, id="C.1-1bit"),
    pytest.param(2, v.STATUSES_2BIT, v.CBOR_2BIT, v.JSON_LST_2BIT, id="C.2-2bit"),
]


@pytest.mark.parametrize(("bits", "statuses", "cbor_hex", "json_lst"), VECTORS)
def test_decode_vector(bits: int, statuses: dict[int, int], cbor_hex: str, json_lst: str) -> None:
    decoded = decode_status_list(bytes.fromhex(cbor_hex))
    assert decoded.bits == bits
    assert decoded.size == v.SIZE  # 2^20 entries, exactly
    for index, status in statuses.items():
        assert decoded.get(index) == status, index
    entries = unpack(decoded.packed, bits)
    assert {i for i, s in enumerate(entries) if s} == set(statuses)  # all others VALID
    # the JSON representation of the same vector carries the same compressed bytes
    assert decompress(b64url(json_lst)) == decoded.packed


@pytest.mark.parametrize(("bits", "statuses", "cbor_hex", "json_lst"), VECTORS)
def test_encode_vector(bits: int, statuses: dict[int, int], cbor_hex: str, json_lst: str) -> None:
    entries = bytearray(v.SIZE)
    for index, status in statuses.items():
        entries[index] = status
    ours = StatusList(bits, pack(bytes(entries), bits))
    encoded = ours.to_cbor()
    again = decode_status_list(encoded)
    assert again.packed == decode_status_list(bytes.fromhex(cbor_hex)).packed
    assert encoded.hex() == cbor_hex  # level 9 gives the draft's bytes exactly
    assert compress(ours.packed) == b64url(json_lst)
    # at another level the bytes differ but decode the same
    other = zlib.compress(ours.packed, level=1)
    assert decompress(other) == ours.packed


def test_small_examples_of_section_4_1() -> None:
    one = pack(bytes(v.SMALL_1BIT), 1)
    assert one.hex() == v.SMALL_1BIT_BYTES
    assert compress(one) == b64url(v.SMALL_1BIT_JSON_LST)
    assert StatusList(1, one).to_cbor().hex() == v.SMALL_1BIT_CBOR
    decoded = decode_status_list(bytes.fromhex(v.SMALL_1BIT_CBOR))
    assert [decoded.get(i) for i in range(16)] == list(v.SMALL_1BIT)

    two = pack(bytes(v.SMALL_2BIT), 2)
    assert two.hex() == v.SMALL_2BIT_BYTES
    assert compress(two) == b64url(v.SMALL_2BIT_JSON_LST)
    assert decompress(b64url(v.SMALL_2BIT_JSON_LST)) == two
    assert list(unpack(two, 2)) == list(v.SMALL_2BIT)


def test_claims_of_the_drafts_cwt_example() -> None:
    claims = parse_claims(bytes.fromhex(v.CWT_EXAMPLE_PAYLOAD))
    assert claims["sub"] == "https://example.com/statuslists/1"
    assert claims["iat"] == 1686920170 and claims["exp"] == 2291720170
    assert claims["ttl"] == 43200
    status_list = claims["status_list"]
    assert status_list.bits == 1 and status_list.packed.hex() == v.SMALL_1BIT_BYTES
    # the example's protected header is what the token module writes
    assert loads(bytes.fromhex(v.CWT_EXAMPLE_PROTECTED)) == {1: -7, HDR_TYP: MEDIA_TYPE}
    assert CLAIM_STATUS_LIST == 65533
