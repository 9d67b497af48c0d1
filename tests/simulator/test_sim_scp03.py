"""The issuer secure channel (section 6): handshake, wrapping, every failure, 61xx under SM."""

from __future__ import annotations

import pytest
from sim_host import AID, Channel, Plain, build, cmac, init_update, open_channel
from sim_support import MASTER_KEY, channel, personalise


def test_handshake_and_key_derivation(host: Plain) -> None:
    host.select()
    ch, sw = open_channel(host, MASTER_KEY)
    assert sw == 0x9000 and ch is not None
    assert ch.send(0x00, 0x84, 0x00, 0x00, le=8)[1] == 0x9000


def test_wrong_master_key_fails_card_cryptogram(host: Plain) -> None:
    with pytest.raises(AssertionError, match="card cryptogram"):
        open_channel(host, bytes(16))


def test_wrong_host_cryptogram(host: Plain) -> None:
    # 1.1: 63Cx with the issuer authentication tries left (6.8; 1.0 answered 6300)
    assert open_channel(host, MASTER_KEY, corrupt_cryptogram=True) == (None, 0x63C9)


def test_wrong_ext_auth_mac(host: Plain) -> None:
    assert open_channel(host, MASTER_KEY, corrupt_mac=True) == (None, 0x6982)


def test_wrong_security_level(host: Plain) -> None:
    for level in (0x00, 0x01, 0x03, 0x13, 0x31):
        assert open_channel(host, MASTER_KEY, level=level) == (None, 0x6A86)


def test_handshake_abandoned_after_error(host: Plain) -> None:
    assert init_update(host)[1] == 0x9000
    assert host.raw(bytes.fromhex("848233001000")) == (b"", 0x6700)  # malformed: nothing else
    init_update(host)
    assert host.raw(bytes.fromhex("8482330008") + bytes(8)) == (b"", 0x6700)  # Nc != 16
    # handshake abandoned: a correct EXTERNAL AUTHENTICATE now gets 6985
    assert host.raw(bytes.fromhex("8482330010") + bytes(16)) == (b"", 0x6985)


def test_ext_auth_without_init_update(host: Plain) -> None:
    assert host.raw(bytes.fromhex("8482330010") + bytes(16)) == (b"", 0x6985)


def test_ext_auth_must_directly_follow(host: Plain) -> None:
    init_update(host)
    host.send(0x00, 0x84, 0x00, 0x00, le=8)
    assert host.raw(bytes.fromhex("8482330010") + bytes(16)) == (b"", 0x6985)


def test_ext_auth_other_errors(host: Plain) -> None:
    init_update(host)
    assert host.raw(bytes.fromhex("8482330110") + bytes(16)) == (b"", 0x6A86)
    init_update(host)
    assert host.raw(bytes.fromhex("8482330008") + bytes(8)) == (b"", 0x6700)


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("8050000000", 0x6700),  # no host challenge
        ("80500000070102030405060700", 0x6700),
        ("80500200080102030405060708 00", 0x6A88),  # KVN 2 unknown
        ("80500001080102030405060708 00", 0x6A86),
        ("80500100080102030405060708 00", 0x9000),  # KVN 1 explicit
    ],
)
def test_initialize_update_errors(host: Plain, apdu: str, sw: int) -> None:
    data, got = host.raw(bytes.fromhex(apdu.replace(" ", "")))
    assert got == sw
    assert len(data) == (29 if sw == 0x9000 else 0)


def test_card_challenge_fresh(host: Plain) -> None:
    a = init_update(host, host_challenge=bytes(8))[0]
    b = init_update(host, host_challenge=bytes(8))[0]
    assert a[13:21] != b[13:21] and a[:13] == b[:13]


def test_wrapped_command_without_channel(host: Plain) -> None:
    host.select()
    assert host.raw(bytes.fromhex("04B0810008") + bytes(8) + b"\x00") == (b"", 0x6982)
    assert host.raw(bytes.fromhex("84F0000308") + bytes(8)) == (b"", 0x6982)


def open_personalising(host: Plain) -> Channel:
    host.select()
    ch = channel(host)
    assert ch.set_status(0x03) == 0x9000
    return ch


def assert_closed(host: Plain, ch: Channel) -> None:
    """A correctly wrapped command on the (old) channel is refused with 6982."""
    assert host.raw(ch.wrap(0x00, 0x84, 0x00, 0x00, le=8)) == (b"", 0x6982)


def test_bad_mac_closes_channel(host: Plain) -> None:
    ch = open_personalising(host)
    apdu = bytearray(ch.wrap(0x00, 0xD6, 0x82, 0x00, b"abc"))
    apdu[-2] ^= 0x01  # last MAC byte (Le follows)
    assert host.raw(bytes(apdu)) == (b"", 0x6982)
    assert_closed(host, ch)
    assert host.read(2) == (b"", 0x9000)


def test_replayed_command(host: Plain) -> None:
    ch = open_personalising(host)
    apdu = ch.wrap(0x00, 0xD6, 0x83, 0x00, b"once")
    assert host.raw(apdu)[1] == 0x9000
    assert host.raw(apdu) == (b"", 0x6982)
    assert_closed(host, ch)
    assert host.read(3, le=10) == (b"once", 0x6282)


def test_reordered_commands(host: Plain) -> None:
    ch = open_personalising(host)
    first = ch.wrap(0x00, 0xD6, 0x83, 0x00, b"first")
    second = ch.wrap(0x00, 0xD6, 0x83, 0x05, b"second")
    assert host.raw(second) == (b"", 0x6982)
    assert host.raw(first) == (b"", 0x6982)
    assert host.read(3) == (b"", 0x9000)


def test_command_from_old_session(host: Plain) -> None:
    old = open_personalising(host)
    stale = old.wrap(0x00, 0xD6, 0x83, 0x00, b"old")
    new = channel(host)  # INITIALIZE UPDATE closes the old one
    assert host.raw(stale) == (b"", 0x6982)
    assert_closed(host, new)
    assert host.read(3) == (b"", 0x9000)


def test_unwrapped_command_closes_channel(host: Plain) -> None:
    ch = open_personalising(host)
    assert host.send(0x00, 0x84, 0x00, 0x00, le=8)[1] == 0x9000
    assert_closed(host, ch)


def test_get_response_does_not_close(host: Plain) -> None:
    ch = open_personalising(host)
    assert host.raw(bytes.fromhex("00C0000000")) == (b"", 0x6985)
    assert ch.send(0x00, 0x84, 0x00, 0x00, le=8)[1] == 0x9000


def test_select_aid_closes_channel(host: Plain) -> None:
    ch = open_personalising(host)
    data, sw = host.raw(ch.wrap(0x00, 0xA4, 0x04, 0x00, AID))
    assert sw == 0x9000 and data[0] == 0x6F  # the channel is closed: the FCI comes plain
    assert_closed(host, ch)


def test_failed_select_aid_closes_channel(host: Plain) -> None:
    ch = open_personalising(host)
    assert host.send(0x00, 0xA4, 0x04, 0x00, b"\xa0\x00")[1] == 0x6A82
    assert_closed(host, ch)


def test_reset_closes_channel(host: Plain) -> None:
    ch = open_personalising(host)
    host.card.reset()
    host.select()
    assert_closed(host, ch)


def test_short_wrapped_data(host: Plain) -> None:
    ch = open_personalising(host)
    assert host.raw(bytes.fromhex("04B0810004AABBCCDD00")) == (b"", 0x6988)
    assert_closed(host, ch)


def test_no_wrapped_data(host: Plain) -> None:
    ch = open_personalising(host)
    assert host.raw(bytes.fromhex("84F00005")) == (b"", 0x6988)
    assert_closed(host, ch)


def test_encrypted_part_not_block_multiple(host: Plain) -> None:
    ch = open_personalising(host)
    assert host.raw(bytes.fromhex("04D6820010") + bytes(16)) == (b"", 0x6988)  # 8 + 8
    assert_closed(host, ch)


def test_bad_padding(host: Plain) -> None:
    ch = open_personalising(host)
    # encrypt a block without ISO padding, MAC it correctly
    from sim_host import aes_ecb, cbc

    icv = aes_ecb(ch.s_enc, ch.counter.to_bytes(16, "big"))
    enc = cbc(ch.s_enc, icv, b"A" * 16, True)
    header = bytes([0x04, 0xD6, 0x83, 0x00])
    lc = bytes([len(enc) + 8])
    mac = cmac(ch.s_mac, ch.mcv + header + lc + enc)
    assert host.raw(header + lc + enc + mac[:8] + b"\x00") == (b"", 0x6988)
    ch.mcv, ch.counter = mac, ch.counter + 1
    assert_closed(host, ch)
    assert host.read(3) == (b"", 0x9000)


def test_command_error_keeps_channel_open(host: Plain) -> None:
    ch = open_personalising(host)
    data, sw = ch.send(0x00, 0xA4, 0x02, 0x0C, b"\x01\x09")
    assert (data, sw) == (b"", 0x6A82)  # no R-MAC with an error SW
    assert ch.send(0x00, 0xD6, 0x83, 0x00, b"ok")[1] == 0x9000  # counter advanced on both sides


def test_rmac_on_warning_sw(host: Plain) -> None:
    ch = open_personalising(host)
    ch.update(3, 0, b"abc")
    assert ch.send(0x00, 0xB0, 0x83, 0x00, le=10) == (b"abc", 0x6282)  # unwrap checks R-MAC


def test_61xx_and_get_response_under_sm(host: Plain) -> None:
    ch = open_personalising(host)
    payload = bytes(range(256))
    assert ch.update(2, 0, payload) == 0x9000
    raw = ch.wrap(0x00, 0xB0, 0x82, 0x00, le=256)  # Le 00: 256 plain bytes
    first, sw = host.raw(raw)
    assert (len(first), sw) == (256, 0x6118)  # 256 + 16 padding + 8 R-MAC = 280
    rest, sw = host.raw(bytes.fromhex("00C0000000"))
    assert (len(rest), sw) == (24, 0x9000)
    assert ch.unwrap(first + rest, sw) == payload
    # GET RESPONSE in small pieces, then the final SW of the command
    raw = ch.wrap(0x00, 0xB0, 0x82, 0x00, le=256)
    data, sw = host.raw(raw)
    pieces = [data]
    while sw >> 8 == 0x61:
        data, sw = host.raw(bytes.fromhex("00C0000010"))
        pieces.append(data)
    assert sw == 0x9000 and ch.unwrap(b"".join(pieces), sw) == payload
    # the channel is still in sync
    assert ch.send(0x00, 0x84, 0x00, 0x00, le=8)[1] == 0x9000


def test_61xx_final_sw_is_the_commands(host: Plain) -> None:
    ch = open_personalising(host)
    assert ch.update(2, 0, bytes(250)) == 0x9000
    raw = ch.wrap(0x00, 0xB0, 0x82, 0x00, le=255)
    data, sw = host.raw(raw)
    assert sw == 0x6109  # 250 -> 256 + 8 = 264 bytes, Ne 255
    more, sw = host.raw(bytes.fromhex("00C0000000"))
    assert sw == 0x6282  # fewer than Ne returned: the command's own warning, R-MAC covers it
    assert ch.unwrap(data + more, sw) == bytes(250)


def test_extended_wrapped_response(host: Plain) -> None:
    ch = open_personalising(host)
    payload = bytes(range(256)) * 128
    assert ch.send(0x00, 0xD6, 0x82, 0x00, payload)[1] == 0x9000
    data, sw = host.raw(ch.wrap(0x00, 0xB0, 0x82, 0x00, le=0, extended=True))
    assert sw == 0x9000 and ch.unwrap(data, sw) == payload
    # extended Le exactly the plain size: the wrapped response needs one GET RESPONSE
    data, sw = host.raw(ch.wrap(0x00, 0xB0, 0x82, 0x00, le=32768, extended=True))
    assert (len(data), sw) == (32768, 0x6118)
    more, sw = host.raw(bytes.fromhex("00C0000000"))
    assert ch.unwrap(data + more, sw) == payload


def test_wrapped_extended_lc_for_short_data(host: Plain) -> None:
    """The C-MAC covers Lc as sent: extended encoding of a small Lc works too."""
    ch = open_personalising(host)
    assert ch.send(0x00, 0xD6, 0x83, 0x00, b"e", extended=True)[1] == 0x9000
    assert ch.send(0x00, 0xB0, 0x83, 0x00, le=1, extended=True) == (b"e", 0x9000)


def test_counter_advances_on_error(host: Plain) -> None:
    ch = open_personalising(host)
    for _ in range(3):
        assert ch.send(0x00, 0x20, 0x00, 0x81, b"bad")[1] == 0x6700
    assert ch.update(3, 0, b"after errors") == 0x9000


def test_set_status_requires_channel(host: Plain) -> None:
    host.select()
    assert host.raw(build(0x84, 0xF0, 0x00, 0x03, bytes(8))) == (b"", 0x6982)
    assert host.raw(build(0x80, 0xF0, 0x00, 0x03)) == (b"", 0x6D00)


def test_terminated_refuses_init_update(host: Plain) -> None:
    ch = personalise(host, lock=False)
    assert ch.set_status(0x0C) == 0x9000
    assert init_update(host)[1] == 0x6985


@pytest.mark.parametrize(
    ("cla", "ins", "sw"),
    [(0x04, 0xC0, 0x6D00), (0x84, 0x50, 0x6D00), (0x14, 0xB0, 0x6884), (0x04, 0x22, 0x6D00)],
)
def test_wrapped_class_refused_closes_channel(host: Plain, cla: int, ins: int, sw: int) -> None:
    ch = open_personalising(host)
    assert host.raw(build(cla, ins, 0x00, 0x00, bytes(8), le=0)) == (b"", sw)
    assert_closed(host, ch)


def test_malformed_apdu_and_get_response_keep_handshake(host: Plain) -> None:
    def noise() -> None:
        assert host.raw(bytes.fromhex("848233001000")) == (b"", 0x6700)
        assert host.raw(bytes.fromhex("00C0000000")) == (b"", 0x6985)

    ch, sw = open_channel(host, MASTER_KEY, between=noise)
    assert sw == 0x9000 and ch is not None


def test_other_command_abandons_handshake(host: Plain) -> None:
    def other() -> None:
        assert host.send(0x00, 0x84, 0x00, 0x00, le=8)[1] == 0x9000

    assert open_channel(host, MASTER_KEY, between=other) == (None, 0x6985)
