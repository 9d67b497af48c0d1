"""Host SCP03: CMAC/KDF vectors, handshake, wrapping and unwrapping against an inline reference.

The reference below is written straight from docs/card-application.md section 6
with the `cryptography` primitives, independently of card_service.card.scp03.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from card_service.card.apdu import CommandApdu
from card_service.card.errors import (
    FileNotFound,
    KeyVersionMismatch,
    ResponseFormatError,
    SecureChannelError,
    SecurityStatusNotSatisfied,
)
from card_service.card.protocol import CardProtocol
from card_service.card.scp03 import (
    SecureChannel,
    SessionKeys,
    StaticKeys,
    aes_cmac,
    derive_session_keys,
    diversify_card_keys,
    iso_pad,
    iso_unpad,
    kdf,
    open_secure_channel,
)
from tests.host.conftest import ScriptedConnection

# --- reference primitives --------------------------------------------------------------------


def ref_cmac(key: bytes, msg: bytes) -> bytes:
    c = CMAC(algorithms.AES(key))
    c.update(msg)
    return c.finalize()


def ref_ecb(key: bytes, block: bytes) -> bytes:
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


def ref_cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool = True) -> bytes:
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    ctx = c.encryptor() if encrypt else c.decryptor()
    return ctx.update(data) + ctx.finalize()


def ref_pad(data: bytes) -> bytes:
    data += b"\x80"
    while len(data) % 16:
        data += b"\x00"
    return data


def ref_kdf(key: bytes, const: int, bits: int, ctx: bytes) -> bytes:
    out = b""
    for i in range(1, 3):
        d = b"\x00" * 11 + bytes([const]) + b"\x00" + bits.to_bytes(2, "big") + bytes([i]) + ctx
        out += ref_cmac(key, d)
    return out[: bits // 8]


# --- CMAC and KDF --------------------------------------------------------------------------

RFC4493_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
RFC4493_MSG = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)


@pytest.mark.parametrize(
    ("length", "mac"),
    [
        (0, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (40, "dfa66747de9ae63030ca32611497c827"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ],
)
def test_aes_cmac_rfc4493(length: int, mac: str) -> None:
    assert aes_cmac(RFC4493_KEY, RFC4493_MSG[:length]).hex() == mac


def test_kdf_gp_layout_hand_computed() -> None:
    key = bytes(range(16))
    context = bytes.fromhex("0102030405060708") + bytes.fromhex("1112131415161718")
    d1 = bytes.fromhex("00000000000000000000000400008001") + context
    assert len(d1) == 16 + 16
    assert kdf(key, 0x04, 128, context) == ref_cmac(key, d1)
    # 64-bit output: L = 0040, first 8 bytes of one block
    d1_64 = bytes.fromhex("00000000000000000000000000004001") + context
    assert kdf(key, 0x00, 64, context) == ref_cmac(key, d1_64)[:8]
    # 256-bit output: two blocks, counter 1 then 2, L = 0100
    d = [bytes.fromhex("000000000000000000000081000100") + bytes([i]) + context for i in (1, 2)]
    assert kdf(key, 0x81, 256, context) == ref_cmac(key, d[0]) + ref_cmac(key, d[1])


def test_kdf_matches_the_card_side_implementation() -> None:
    from simulators.scp03 import diversify
    from simulators.scp03 import kdf as card_kdf

    mk, serial = os.urandom(16), os.urandom(8)
    for const in (0x00, 0x01, 0x04, 0x06, 0x07, 0x81):
        assert kdf(mk, const, 128, serial) == card_kdf(mk, const, 128, serial)
    ours, theirs = diversify_card_keys(mk, serial, 5), diversify(mk, serial, 5)
    assert (ours.enc, ours.mac, ours.dek) == (theirs.enc, theirs.mac, theirs.dek)


def test_diversification_layout() -> None:
    mk, serial = os.urandom(16), bytes.fromhex("0011223344556677")
    keys = diversify_card_keys(mk, serial, 1)
    assert keys.enc == ref_kdf(mk, 0x81, 128, serial + b"\x01")
    assert keys.mac == ref_kdf(mk, 0x82, 128, serial + b"\x01")
    assert keys.dek == ref_kdf(mk, 0x83, 128, serial + b"\x01")
    assert len({keys.enc, keys.mac, keys.dek}) == 3
    assert diversify_card_keys(mk, serial, 2).enc != keys.enc


@pytest.mark.parametrize(
    ("mk", "serial", "kvn"),
    [
        (bytes(15), bytes(8), 1),
        (bytes(16), bytes(7), 1),
        (bytes(16), bytes(8), 0),
        (bytes(16), bytes(8), 128),
    ],
)
def test_diversification_validates(mk: bytes, serial: bytes, kvn: int) -> None:
    with pytest.raises(ValueError):
        diversify_card_keys(mk, serial, kvn)


def test_key_reprs_hide_bytes() -> None:
    keys = StaticKeys(b"\x11" * 16, b"\x22" * 16, b"\x33" * 16)
    session = SessionKeys(b"\x44" * 16, b"\x55" * 16, b"\x66" * 16)
    for text in (repr(keys), str(keys), repr(session)):
        for b in "123456":
            assert b * 4 not in text


def test_padding() -> None:
    assert iso_pad(b"") == b"\x80" + bytes(15)
    assert iso_pad(bytes(15)) == bytes(15) + b"\x80"
    assert len(iso_pad(bytes(16))) == 32
    for n in (0, 1, 15, 16, 17, 100):
        assert iso_unpad(iso_pad(bytes(n))) == bytes(n)
    for bad in (bytes(16), b"\x80" + bytes(15) + bytes(16), b"\x01" * 16, b"", bytes(5)):
        with pytest.raises(SecureChannelError):
            iso_unpad(bad)


# --- a reference card ------------------------------------------------------------------------


class RefCard:
    """Card side of section 6 for one handshake, as a ScriptedConnection responder."""

    def __init__(
        self,
        keys: StaticKeys,
        serial: bytes = bytes.fromhex("0102030405060708"),
        *,
        extended: bool = True,
    ) -> None:
        self.keys, self.serial = keys, serial
        self.kvn = 1  # the key version the card reports in INITIALIZE UPDATE
        self.card_challenge = bytes.fromhex("A0A1A2A3A4A5A6A7")
        self.open = False
        self.counter = 0
        self.mcv = b""
        self.commands: list[tuple[int, int, int, int, bytes]] = []  # plain commands received
        self.reply: tuple[bytes, int] = (b"", 0x9000)  # plain response to the next command
        self.tamper_rmac = False
        self.conn = ScriptedConnection(responder=self.respond, extended=extended)

    def session(self, hc: bytes) -> tuple[bytes, bytes, bytes]:
        ctx = hc + self.card_challenge
        return (
            ref_kdf(self.keys.enc, 4, 128, ctx),
            ref_kdf(self.keys.mac, 6, 128, ctx),
            ref_kdf(self.keys.mac, 7, 128, ctx),
        )

    def respond(self, apdu: bytes) -> tuple[bytes, int]:
        cla, ins, p1, p2 = apdu[:4]
        if ins == 0x50:
            self.hc = apdu[5:13]
            self.s_enc, self.s_mac, self.s_rmac = self.session(self.hc)
            ctx = self.hc + self.card_challenge
            crypt = ref_kdf(self.s_mac, 0, 64, ctx)
            return (
                b"\x00\x01"
                + self.serial
                + bytes([self.kvn, 0x03, 0x60])
                + self.card_challenge
                + crypt,
                0x9000,
            )
        if ins == 0x82 and cla == 0x84:
            ctx = self.hc + self.card_challenge
            assert apdu[:5] == bytes.fromhex("8482330010") and len(apdu) == 21
            assert apdu[5:13] == ref_kdf(self.s_mac, 1, 64, ctx)
            full = ref_cmac(self.s_mac, bytes(16) + apdu[:5] + apdu[5:13])
            assert apdu[13:21] == full[:8]
            self.mcv, self.counter, self.open = full, 1, True
            return b"", 0x9000
        assert self.open and cla & 0x04
        if len(apdu) > 7 and apdu[4] == 0:
            lc_field, lc = apdu[4:7], int.from_bytes(apdu[5:7], "big")
            body, le = apdu[7 : 7 + lc], apdu[7 + lc :]
            assert len(le) == 2
        else:
            lc_field, lc = apdu[4:5], apdu[4]
            body, le = apdu[5 : 5 + lc], apdu[5 + lc :]
            assert len(le) == 1
        enc, mac = body[:-8], body[-8:]
        full = ref_cmac(self.s_mac, self.mcv + apdu[:4] + lc_field + enc)
        assert full[:8] == mac, "C-MAC mismatch"
        self.mcv = full
        plain = b""
        if enc:
            icv = ref_ecb(self.s_enc, self.counter.to_bytes(16, "big"))
            padded = ref_cbc(self.s_enc, icv, enc, encrypt=False)
            plain = padded[: padded.rindex(b"\x80")]
        self.commands.append((cla, ins, p1, p2, plain))
        data, sw = self.reply
        counter, self.counter = self.counter, self.counter + 1
        if not (sw == 0x9000 or sw >> 8 in (0x62, 0x63)):
            return b"", sw
        renc = b""
        if data:
            icv = ref_ecb(self.s_enc, b"\x80" + counter.to_bytes(15, "big"))
            renc = ref_cbc(self.s_enc, icv, ref_pad(data))
        rmac = ref_cmac(self.s_rmac, self.mcv + renc + sw.to_bytes(2, "big"))[:8]
        if self.tamper_rmac:
            rmac = bytes(8)
        return renc + rmac, sw


HC = bytes.fromhex("C0C1C2C3C4C5C6C7")


def opened(extended: bool = True) -> tuple[RefCard, CardProtocol, SecureChannel]:
    keys = diversify_card_keys(bytes(range(16)), bytes.fromhex("0102030405060708"), 1)
    card = RefCard(keys, extended=extended)
    proto = CardProtocol(card.conn)
    channel = open_secure_channel(proto, keys, host_challenge=HC)
    return card, proto, channel


def test_handshake_exact_bytes() -> None:
    card, _, channel = opened()
    init, ext = card.conn.sent
    assert init == bytes.fromhex("8050000008") + HC + b"\x00"
    assert ext[:5] == bytes.fromhex("8482330010")
    assert channel.counter == 1


def test_handshake_with_key_callback_and_kvn() -> None:
    mk = os.urandom(16)
    serial = bytes.fromhex("0102030405060708")
    seen: list[tuple[bytes, int]] = []
    card = RefCard(diversify_card_keys(mk, serial, 1))

    def provider(s: bytes, kvn: int) -> StaticKeys:
        seen.append((s, kvn))
        return diversify_card_keys(mk, s, kvn)

    open_secure_channel(CardProtocol(card.conn), provider, kvn=1)
    assert seen == [(serial, 1)]
    assert card.conn.sent[0][:5] == bytes.fromhex("8050010008")


@pytest.mark.parametrize("reported", [2, 0x7F])
def test_kvn_mismatch_is_refused_before_keys_are_looked_up(reported: int) -> None:
    """Security review: a nonzero requested KVN must come back in the response (5.10)."""
    mk = os.urandom(16)
    serial = bytes.fromhex("0102030405060708")
    card = RefCard(diversify_card_keys(mk, serial, reported))
    card.kvn = reported
    looked_up: list[int] = []

    def provider(s: bytes, kvn: int) -> StaticKeys:
        looked_up.append(kvn)
        return diversify_card_keys(mk, s, kvn)

    with pytest.raises(KeyVersionMismatch) as info:
        open_secure_channel(CardProtocol(card.conn), provider, kvn=1)
    assert isinstance(info.value, SecureChannelError)
    assert (info.value.requested, info.value.reported) == (1, reported)
    assert "key version 1" in str(info.value) and f"key version {reported}" in str(info.value)
    assert looked_up == [] and len(card.conn.sent) == 1  # no EXTERNAL AUTHENTICATE
    # fixed keys: same refusal even though the keys would match the card
    card2 = RefCard(diversify_card_keys(mk, serial, reported))
    card2.kvn = reported
    with pytest.raises(KeyVersionMismatch):
        open_secure_channel(
            CardProtocol(card2.conn), diversify_card_keys(mk, serial, reported), kvn=1
        )


def test_kvn_zero_accepts_the_cards_version() -> None:
    mk = os.urandom(16)
    serial = bytes.fromhex("0102030405060708")
    card = RefCard(diversify_card_keys(mk, serial, 5))
    card.kvn = 5
    seen: list[int] = []

    def provider(s: bytes, kvn: int) -> StaticKeys:
        seen.append(kvn)
        return diversify_card_keys(mk, s, kvn)

    assert open_secure_channel(CardProtocol(card.conn), provider).is_open
    assert seen == [5]


@pytest.mark.parametrize("reported", [0, 0x80, 0xFF])
def test_invalid_reported_kvn_is_a_format_error(reported: int) -> None:
    card = RefCard(diversify_card_keys(bytes(16), bytes.fromhex("0102030405060708"), 1))
    card.kvn = reported
    with pytest.raises(ResponseFormatError, match="key version"):
        open_secure_channel(CardProtocol(card.conn), lambda s, k: card.keys)


@pytest.mark.parametrize("kvn", [-1, 0x80, 0x100])
def test_requested_kvn_out_of_range(kvn: int) -> None:
    card = RefCard(diversify_card_keys(bytes(16), bytes.fromhex("0102030405060708"), 1))
    with pytest.raises(ValueError, match="key version"):
        open_secure_channel(CardProtocol(card.conn), card.keys, kvn=kvn)
    assert card.conn.sent == []


def test_session_kvn_mismatch_against_the_simulator(direct_card: Any) -> None:
    """End to end: the simulated card holds KVN 1; asking for KVN 2 is refused by the card
    (6A88), and a host asking for KVN 1 gets in."""
    from card_service.card.errors import ReferenceDataNotFound
    from card_service.card.session import PermitCardSession

    session = PermitCardSession(direct_card.connect())
    session.select()
    keys = lambda s, k: diversify_card_keys(direct_card.master_key, s, k)  # noqa: E731
    with pytest.raises(ReferenceDataNotFound):
        session.open_issuer_channel(keys, kvn=2)
    session.open_issuer_channel(keys, kvn=1)
    assert session.issuer_channel_open


def test_session_kvn_mismatch_from_a_nonconforming_card() -> None:
    """A card that ignores P1 and answers with another key version: typed error, no channel."""
    from card_service.card.session import PermitCardSession

    mk = os.urandom(16)
    serial = bytes.fromhex("0102030405060708")
    card = RefCard(diversify_card_keys(mk, serial, 3))
    card.kvn = 3
    session = PermitCardSession(card.conn)
    with pytest.raises(KeyVersionMismatch):
        session.open_issuer_channel(lambda s, k: diversify_card_keys(mk, s, k), kvn=1)
    assert not session.issuer_channel_open
    assert [a[1] for a in card.conn.sent] == [0x50]


def test_card_cryptogram_mismatch_sends_nothing_more() -> None:
    serial = bytes.fromhex("0102030405060708")
    card = RefCard(diversify_card_keys(os.urandom(16), serial, 1))
    wrong = diversify_card_keys(os.urandom(16), serial, 1)
    with pytest.raises(SecureChannelError, match="cryptogram") as info:
        open_secure_channel(CardProtocol(card.conn), wrong)
    assert len(card.conn.sent) == 1
    for key in (wrong.enc, wrong.mac):
        assert key.hex() not in str(info.value)


def test_wrap_exact_bytes_mcv_chaining_and_counter_icv() -> None:
    card, _, channel = opened()
    s_enc, s_mac, _ = card.session(HC)
    mcv = card.mcv
    for counter in (1, 2):
        data = b"same data every time"
        channel.send(CommandApdu(0x00, 0xD6, 0x00, 0x10, data))
        sent = card.conn.sent[-1]
        enc = ref_cbc(s_enc, ref_ecb(s_enc, counter.to_bytes(16, "big")), ref_pad(data))
        mac = ref_cmac(s_mac, mcv + bytes.fromhex("04D60010") + bytes([len(enc) + 8]) + enc)
        assert sent == bytes.fromhex("04D60010") + bytes([len(enc) + 8]) + enc + mac[:8] + b"\x00"
        mcv = mac
    assert card.commands[0] == card.commands[1] == (0x04, 0xD6, 0, 0x10, b"same data every time")
    assert card.conn.sent[-1] != card.conn.sent[-2]  # counter ICV and MCV differ


def test_case1_command_wrapped_with_mac_only_and_le_00() -> None:
    card, _, channel = opened()
    channel.send(CommandApdu(0x80, 0xF0, 0x00, 0x03))
    sent = card.conn.sent[-1]
    assert sent[:5] == bytes.fromhex("84F0000308") and len(sent) == 14 and sent[-1] == 0


def test_extended_lc_in_mac_input() -> None:
    card, _, channel = opened(extended=True)
    data = os.urandom(1000)
    channel.send(CommandApdu(0x00, 0xD6, 0x00, 0x00, data))
    sent = card.conn.sent[-1]
    assert sent[4:7] == (len(ref_pad(data)) + 8).to_bytes(3, "big")
    assert sent[-2:] == b"\x00\x00"
    assert card.commands[-1][4] == data


def test_chaining_under_secure_messaging() -> None:
    card, proto, channel = opened(extended=False)
    assert not proto.extended_length
    data = os.urandom(1000)
    channel.send(CommandApdu(0x00, 0xD6, 0x00, 0x00, data))
    links = card.conn.sent[2:]
    assert all(len(a) <= 5 + 255 + 1 for a in links)
    assert [a[0] for a in links] == [0x14] * (len(links) - 1) + [0x04]
    assert b"".join(c[4] for c in card.commands) == data
    assert channel.counter == 1 + len(links)


def test_response_unwrap() -> None:
    card, _, channel = opened()
    for payload in (b"", b"x", bytes(range(256)) * 3):
        card.reply = (payload, 0x9000)
        got = channel.send(CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=256))
        assert got == payload


def test_response_warning_sw_is_unwrapped_too() -> None:
    card, _, channel = opened()
    card.reply = (b"abc", 0x6282)
    resp = channel.transceive(CommandApdu(0x00, 0xB0, 0, 0, ne=16))
    assert resp.data == b"abc" and resp.sw == 0x6282


def test_error_sw_comes_bare_and_channel_stays_open() -> None:
    card, _, channel = opened()
    card.reply = (b"", 0x6A82)
    with pytest.raises(FileNotFound):
        channel.send(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x99"))
    assert channel.is_open
    card.reply = (b"ok", 0x9000)
    assert channel.send(CommandApdu(0x00, 0xB0, 0, 0, ne=2)) == b"ok"


def test_6982_closes_the_host_channel() -> None:
    card, _, channel = opened()
    card.reply = (b"", 0x6982)
    with pytest.raises(SecurityStatusNotSatisfied):
        channel.send(CommandApdu(0x00, 0xB0, 0, 0, ne=2))
    assert not channel.is_open


def test_bad_rmac_closes_the_channel_for_good() -> None:
    card, _, channel = opened()
    card.reply = (b"secret", 0x9000)
    card.tamper_rmac = True
    with pytest.raises(SecureChannelError, match="R-MAC") as info:
        channel.send(CommandApdu(0x00, 0xB0, 0, 0, ne=6))
    assert "secret" not in str(info.value)
    sent = len(card.conn.sent)
    card.tamper_rmac = False
    with pytest.raises(SecureChannelError, match="closed"):
        channel.send(CommandApdu(0x00, 0xB0, 0, 0, ne=6))
    assert len(card.conn.sent) == sent


@pytest.mark.parametrize("body", ["", "0102", "00" * 8 + "01", "00" * 25])
def test_malformed_wrapped_response(body: str) -> None:
    card, _proto, channel = opened()

    def respond(apdu: bytes) -> tuple[bytes, int]:
        return bytes.fromhex(body), 0x9000

    card.conn.responder = respond
    with pytest.raises(SecureChannelError):
        channel.send(CommandApdu(0x00, 0xB0, 0, 0, ne=6))
    assert not channel.is_open


def test_session_keys_layout() -> None:
    keys = StaticKeys(os.urandom(16), os.urandom(16), os.urandom(16))
    cc = os.urandom(8)
    s = derive_session_keys(keys, HC, cc)
    assert s.enc == ref_kdf(keys.enc, 4, 128, HC + cc)
    assert s.mac == ref_kdf(keys.mac, 6, 128, HC + cc)
    assert s.rmac == ref_kdf(keys.mac, 7, 128, HC + cc)
