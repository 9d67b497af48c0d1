"""Test-only host side for the simulator tests, written from docs/card-application.md.

Deliberately independent of ``simulators.scp03`` (and of ``card_service.card``) so the
card is checked against the specification text, not against its own code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from simulators.card import SimulatedCard

AID = bytes.fromhex("F05045524D495401")


def cmac(key: bytes, msg: bytes) -> bytes:
    c = CMAC(algorithms.AES(key))
    c.update(msg)
    return c.finalize()


def kdf(key: bytes, const: int, bits: int, context: bytes) -> bytes:
    out = b""
    for i in range(1, (bits + 127) // 128 + 1):
        d = b"\x00" * 11 + bytes([const]) + b"\x00" + bits.to_bytes(2, "big") + bytes([i])
        out += cmac(key, d + context)
    return out[: bits // 8]


def aes_ecb(key: bytes, block: bytes) -> bytes:
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


def cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def pad(data: bytes) -> bytes:
    data += b"\x80"
    while len(data) % 16:
        data += b"\x00"
    return data


def build(
    cla: int,
    ins: int,
    p1: int,
    p2: int,
    data: bytes = b"",
    le: int | None = None,
    extended: bool = False,
) -> bytes:
    """Encode an APDU.  ``le``: Ne value (256 short / 65536 extended encode as zeros)."""
    out = bytes([cla, ins, p1, p2])
    if extended:
        if data:
            out += b"\x00" + len(data).to_bytes(2, "big") + data
        if le is not None:
            enc = (le % 65536).to_bytes(2, "big")
            out += enc if data else b"\x00" + enc
    else:
        if data:
            out += bytes([len(data)]) + data
        if le is not None:
            out += bytes([le % 256])
    return out


def split(resp: bytes) -> tuple[bytes, int]:
    assert len(resp) >= 2
    return resp[:-2], int.from_bytes(resp[-2:], "big")


def pin_block(digits: str) -> bytes:
    return digits.encode().ljust(8, b"\xff")


def diversify(mk: bytes, serial: bytes, kvn: int) -> tuple[bytes, bytes, bytes]:
    ctx = serial + bytes([kvn])
    return kdf(mk, 0x81, 128, ctx), kdf(mk, 0x82, 128, ctx), kdf(mk, 0x83, 128, ctx)


class Plain:
    """Plain commands plus GET RESPONSE handling."""

    def __init__(self, card: SimulatedCard) -> None:
        self.card = card

    def raw(self, apdu: bytes) -> tuple[bytes, int]:
        return split(self.card.transmit(apdu))

    def send(
        self,
        cla: int,
        ins: int,
        p1: int,
        p2: int,
        data: bytes = b"",
        le: int | None = None,
        extended: bool = False,
    ) -> tuple[bytes, int]:
        return self.raw(build(cla, ins, p1, p2, data, le, extended))

    def select(self) -> tuple[bytes, int]:
        return self.send(0x00, 0xA4, 0x04, 0x00, AID, 256)

    def select_ef(self, fid: int) -> int:
        return self.send(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))[1]

    def read(
        self, fid_or_sfi: int, offset: int = 0, le: int = 256, extended: bool = False
    ) -> tuple[bytes, int]:
        return self.send(0x00, 0xB0, 0x80 | fid_or_sfi, offset, le=le, extended=extended)

    def collect(self, data: bytes, sw: int) -> tuple[bytes, int]:
        """Follow 61xx with GET RESPONSE."""
        while sw >> 8 == 0x61:
            more, sw = self.raw(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
            data += more
        return data, sw


@dataclass
class Channel:
    """Host side of an open issuer channel."""

    plain: Plain
    s_enc: bytes = field(repr=False)
    s_mac: bytes = field(repr=False)
    s_rmac: bytes = field(repr=False)
    mcv: bytes = field(repr=False)
    counter: int = 1
    last_counter: int = 0

    def wrap(
        self,
        cla: int,
        ins: int,
        p1: int,
        p2: int,
        data: bytes = b"",
        le: int | None = None,
        extended: bool = False,
    ) -> bytes:
        enc = b""
        if data:
            icv = aes_ecb(self.s_enc, self.counter.to_bytes(16, "big"))
            enc = cbc(self.s_enc, icv, pad(data), True)
        cla2 = cla | 0x04
        lc = len(enc) + 8
        ext = extended or lc > 255
        lc_field = b"\x00" + lc.to_bytes(2, "big") if ext else bytes([lc])
        mac = cmac(self.s_mac, self.mcv + bytes([cla2, ins, p1, p2]) + lc_field + enc)
        self.mcv = mac
        body = enc + mac[:8]
        le_field = le if le is not None else 0
        apdu = bytes([cla2, ins, p1, p2]) + lc_field + body
        apdu += (le_field % 65536).to_bytes(2, "big") if ext else bytes([le_field % 256])
        self.last_counter = self.counter
        self.counter += 1
        return apdu

    def unwrap(self, data: bytes, sw: int) -> bytes:
        ok = sw == 0x9000 or sw >> 8 in (0x62, 0x63)
        if not ok:
            assert data == b"", f"data with SW {sw:04X}"
            return b""
        assert len(data) >= 8, f"no R-MAC with SW {sw:04X}"
        enc, rmac = data[:-8], data[-8:]
        expect = cmac(self.s_rmac, self.mcv + enc + sw.to_bytes(2, "big"))[:8]
        assert rmac == expect, "R-MAC mismatch"
        if not enc:
            return b""
        icv = aes_ecb(self.s_enc, b"\x80" + self.last_counter.to_bytes(15, "big"))
        padded = cbc(self.s_enc, icv, enc, False)
        stripped = padded.rstrip(b"\x00")
        assert stripped.endswith(b"\x80")
        return stripped[:-1]

    def send(
        self,
        cla: int,
        ins: int,
        p1: int,
        p2: int,
        data: bytes = b"",
        le: int | None = None,
        extended: bool = False,
    ) -> tuple[bytes, int]:
        resp, sw = self.plain.raw(self.wrap(cla, ins, p1, p2, data, le, extended))
        resp, sw = self.plain.collect(resp, sw)
        return self.unwrap(resp, sw), sw

    def update(self, sfi: int, offset: int, data: bytes) -> int:
        return self.send(0x00, 0xD6, 0x80 | sfi, offset, data)[1]

    def set_status(self, lcs: int) -> int:
        return self.send(0x80, 0xF0, 0x00, lcs)[1]


def init_update(
    plain: Plain, kvn: int = 0, host_challenge: bytes | None = None
) -> tuple[bytes, int, bytes]:
    hc = host_challenge or os.urandom(8)
    data, sw = plain.send(0x80, 0x50, kvn, 0x00, hc, 256)
    return data, sw, hc


def open_channel(
    plain: Plain,
    master_key: bytes,
    kvn: int = 1,
    level: int = 0x33,
    corrupt_cryptogram: bool = False,
    corrupt_mac: bool = False,
    between: Callable[[], None] | None = None,
) -> tuple[Channel | None, int]:
    data, sw, hc = init_update(plain)
    assert sw == 0x9000 and len(data) == 29, f"{sw:04X}"
    assert data[:2] == b"\x00\x01" and data[10:13] == bytes([kvn, 0x03, 0x60])
    serial, cc, card_crypto = data[2:10], data[13:21], data[21:29]
    k_enc, k_mac, _ = diversify(master_key, serial, kvn)
    ctx = hc + cc
    s_enc, s_mac, s_rmac = (
        kdf(k_enc, 0x04, 128, ctx),
        kdf(k_mac, 0x06, 128, ctx),
        kdf(k_mac, 0x07, 128, ctx),
    )
    assert card_crypto == kdf(s_mac, 0x00, 64, ctx), "card cryptogram"
    host_crypto = kdf(s_mac, 0x01, 64, ctx)
    if corrupt_cryptogram:
        host_crypto = bytes([host_crypto[0] ^ 1]) + host_crypto[1:]
    header = bytes([0x84, 0x82, level, 0x00])
    mac = cmac(s_mac, bytes(16) + header + b"\x10" + host_crypto)
    mac8 = bytes([mac[0] ^ 1]) + mac[1:8] if corrupt_mac else mac[:8]
    if between is not None:
        between()
    resp, sw = plain.raw(header + b"\x10" + host_crypto + mac8)
    if sw != 0x9000:
        assert resp == b""
        return None, sw
    assert resp == b"", "EXTERNAL AUTHENTICATE response must carry no R-MAC"
    return Channel(plain, s_enc, s_mac, s_rmac, mac, 1), sw
