"""Packing, ZLIB and the StatusList map: round trips, and every decoding failure a
StatusListError (a PermitError) with its stable code."""

from __future__ import annotations

import gzip
import random
import zlib

import cbor2
import pytest

from card_service.status.encoding import (
    MAX_LIST_BYTES,
    Status,
    StatusList,
    decode_status_list,
    decompress,
    entries_of,
    pack,
    unpack,
)
from card_service.status.errors import StatusListBuildError, StatusListCode, StatusListError
from permit_errors import ErrorKind, PermitError


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
@pytest.mark.parametrize("count", [0, 1, 3, 4, 5, 17, 1000])
def test_pack_unpack_round_trip(bits: int, count: int) -> None:
    rng = random.Random(bits * 1000 + count)
    entries = bytes(rng.randrange(1 << bits) for _ in range(count))
    packed = pack(entries, bits)
    assert len(packed) == -(-count * bits // 8)
    back = unpack(packed, bits)
    assert back[:count] == entries and not any(back[count:])
    status_list = StatusList(bits, packed)
    assert [status_list.get(i) for i in range(count)] == list(entries)


def test_lsb_first_bit_order() -> None:
    # index 0 is the lowest two bits of byte 0, index 3 the highest
    assert pack(bytes([1, 0, 0, 0]), 2) == b"\x01"
    assert pack(bytes([0, 0, 0, 2]), 2) == b"\x80"
    assert pack(bytes([0, 0, 0, 0, 3]), 2) == b"\x00\x03"


def test_entries_of_mapping_and_sequence() -> None:
    assert entries_of({2: Status.INVALID, 0: Status.SUSPENDED}, 4) == bytes([2, 0, 1, 0])
    assert entries_of([Status.INVALID], 3) == bytes([1, 0, 0])
    assert entries_of(b"\x02", 2) == b"\x02\x00"
    for bad_map in ({4: 1}, {-1: 1}, {0: 3}, {0: True}, {"0": 1}):
        with pytest.raises(StatusListBuildError):
            entries_of(bad_map, 4)  # type: ignore[arg-type]
    for bad_seq in ([0, 3], [0, 0, 0, 0, 0], ["x"]):
        with pytest.raises(StatusListBuildError):
            entries_of(bad_seq, 4)  # type: ignore[arg-type]
    with pytest.raises(StatusListBuildError):
        entries_of({}, -1)
    error = StatusListBuildError("x")
    assert isinstance(error, PermitError) and error.kind is ErrorKind.INVALID


def test_a_status_never_masked_to_fit() -> None:
    assert StatusList.build({0: Status.INVALID}, 8, bits=1).get(0) == 1
    with pytest.raises(StatusListBuildError, match="fit"):
        StatusList.build({0: Status.SUSPENDED}, 8, bits=1)


def test_index_out_of_range() -> None:
    status_list = StatusList.build({}, 5)  # 2 bytes: 8 indices
    assert status_list.size == 8
    assert status_list.get(7) == 0
    for index in (8, -1):
        with pytest.raises(IndexError):
            status_list.get(index)


def _fails(data: bytes, code: StatusListCode) -> StatusListError:
    with pytest.raises(StatusListError) as caught:
        decode_status_list(data)
    assert caught.value.code == code.value and caught.value.rule is code
    assert isinstance(caught.value, PermitError) and caught.value.kind is ErrorKind.INTEGRITY
    return caught.value


def test_decompress_refusals() -> None:
    raw = bytes(100)
    good = zlib.compress(raw, 9)
    assert decompress(good) == raw
    refused = {
        "not zlib": b"not zlib at all",
        "raw deflate": zlib.compress(raw, 9)[2:-4],
        "gzip": gzip.compress(raw),
        "truncated": good[:-3],
        "trailing": good + b"\x00",
        "bad adler": good[:-1] + bytes([good[-1] ^ 1]),
    }
    for name, data in refused.items():
        with pytest.raises(StatusListError) as caught:
            decompress(data)
        assert caught.value.code == "status_list_compression", name


def test_zlib_bomb_is_refused_before_it_inflates() -> None:
    bomb = zlib.compress(bytes(MAX_LIST_BYTES + 1), 9)
    assert len(bomb) < 100_000
    with pytest.raises(StatusListError, match="inflates beyond") as caught:
        decompress(bomb)
    assert caught.value.code == "status_list_compression"
    with pytest.raises(StatusListError):
        decompress(zlib.compress(bytes(11), 9), limit=10)


def test_status_list_map_refusals() -> None:
    lst = zlib.compress(b"\x00", 9)
    _fails(cbor2.dumps([2, lst]), StatusListCode.LIST_MALFORMED)
    _fails(cbor2.dumps({"bits": 2}), StatusListCode.LIST_MALFORMED)
    _fails(cbor2.dumps({"bits": 2, "lst": lst, "extra": 1}), StatusListCode.LIST_MALFORMED)
    _fails(cbor2.dumps({"bits": 2, "lst": "text"}), StatusListCode.LIST_MALFORMED)
    _fails(
        cbor2.dumps({"bits": 2, "lst": lst, "aggregation_uri": 1}), StatusListCode.LIST_MALFORMED
    )
    for bits in (0, 3, 16, True, 2.0, -2):
        _fails(cbor2.dumps({"bits": bits, "lst": lst}), StatusListCode.LIST_BITS)
    _fails(cbor2.dumps({"bits": 2, "lst": b"junk"}), StatusListCode.LIST_COMPRESSION)
    # strict CBOR: tags, duplicate keys, trailing bytes, indefinite lengths
    _fails(cbor2.dumps(cbor2.CBORTag(24, b"\x00")), StatusListCode.LIST_MALFORMED)
    duplicate = b"\xa3" + cbor2.dumps("bits") + b"\x02" + cbor2.dumps("lst") + cbor2.dumps(lst)
    _fails(duplicate + cbor2.dumps("bits") + b"\x02", StatusListCode.LIST_MALFORMED)
    _fails(cbor2.dumps({"bits": 2, "lst": lst}) + b"\x00", StatusListCode.LIST_MALFORMED)
    _fails(b"\xbf" + cbor2.dumps("bits") + b"\x02\xff", StatusListCode.LIST_MALFORMED)


def test_aggregation_uri_round_trip() -> None:
    status_list = StatusList(2, b"\x01", "https://permit.example/status/aggregation")
    assert decode_status_list(status_list.to_cbor()) == status_list
