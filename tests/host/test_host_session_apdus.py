"""PermitCardSession against a scripted connection: the exact APDUs each method sends."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.card import wire
from card_service.card.errors import (
    PinBlocked,
    PukBlocked,
    ResponseFormatError,
    SecureChannelError,
    TlvError,
    WrongPin,
    WrongPuk,
)
from card_service.card.session import PermitCardSession, PinStatus
from card_service.card.tlv import build_tlv
from tests.host.conftest import ScriptedConnection

SERIAL = bytes.fromhex("0102030405060708")
SELECT_AID = "00A4040008F05045524D49540100"


def fci(lcs: int = 0x03) -> str:
    prop = bytes.fromhex("80020100") + bytes((0x8A, 1, lcs)) + b"\x5a\x08" + SERIAL
    return build_tlv(0x6F, build_tlv(0x84, wire.AID) + build_tlv(0xA5, prop)).hex()


def fcp(fid: int, size: int, max_size: int = 32768) -> str:
    body = (
        build_tlv(0x80, size.to_bytes(2, "big"))
        + bytes.fromhex("820101")
        + build_tlv(0x83, fid.to_bytes(2, "big"))
        + bytes.fromhex("8A0103")
        + build_tlv(0xC0, max_size.to_bytes(2, "big"))
        + bytes.fromhex("C10100C20140")
    )
    return build_tlv(0x62, body).hex()


def session(script: list[tuple[str, str, int]], extended: bool = True) -> PermitCardSession:
    return PermitCardSession(ScriptedConnection(script, extended=extended))


def done(s: PermitCardSession) -> ScriptedConnection:
    conn = s.connection
    assert isinstance(conn, ScriptedConnection)
    conn.assert_done()
    return conn


def test_select() -> None:
    s = session([(SELECT_AID, fci(), 0x9000)])
    info = s.select()
    assert info.aid == wire.AID and info.version == (1, 0)
    assert info.life_cycle is wire.LifeCycle.PERSONALISING and info.serial == SERIAL
    done(s)


def test_select_rejects_garbage_fci() -> None:
    s = session([(SELECT_AID, "6F0384", 0x9000)])
    with pytest.raises(TlvError):
        s.select()


def test_read_card_info() -> None:
    info = build_tlv(
        0xE0, b"\x5a\x08" + SERIAL + bytes.fromhex("8A0105 80020100 810101 820107".replace(" ", ""))
    )
    s = session(
        [
            ("00A4020402010100", fcp(0x0101, len(info), 64), 0x9000),
            (f"00B00000{len(info):02X}", info.hex(), 0x9000),
        ]
    )
    ci = s.read_card_info()
    assert ci.serial == SERIAL and ci.life_cycle is wire.LifeCycle.ISSUED
    assert ci.kvn == 1 and ci.app_version == (1, 0)
    assert ci.card_key_present and ci.pin_set and ci.puk_set
    done(s)


def test_read_file_extended_le() -> None:
    s = session(
        [("00A4020402010200", fcp(0x0102, 600), 0x9000), ("00B00000000258", "AA" * 600, 0x9000)]
    )
    assert s.read_file(0x0102) == b"\xaa" * 600
    conn = done(s)
    assert conn.max_depth >= 1


def test_read_file_short_reader_chunks() -> None:
    s = session(
        [
            ("00A4020402010200", fcp(0x0102, 600), 0x9000),
            ("00B0000000", "01" * 256, 0x9000),
            ("00B0010000", "02" * 256, 0x9000),
            ("00B0020058", "03" * 88, 0x9000),
        ],
        extended=False,
    )
    assert s.read_file(0x0102) == b"\x01" * 256 + b"\x02" * 256 + b"\x03" * 88
    done(s)


def test_read_empty_file_sends_only_select() -> None:
    s = session([("00A4020402010300", fcp(0x0103, 0, 8192), 0x9000)])
    assert s.read_file(0x0103) == b""
    done(s)


def test_read_file_short_answer_is_an_error() -> None:
    s = session([("00A4020402010200", fcp(0x0102, 10), 0x9000), ("00B000000A", "", 0x9000)])
    with pytest.raises(ResponseFormatError):
        s.read_file(0x0102)


def test_write_file_one_extended_apdu() -> None:
    data = bytes(i % 251 for i in range(32768))
    s = session([("00A4020C020102", "", 0x9000), ("00D60000008000" + data.hex(), "", 0x9000)])
    s.write_file(0x0102, data)
    done(s)


def test_write_file_chained_on_short_reader() -> None:
    data = bytes(i % 251 for i in range(600))
    s = session(
        [
            ("00A4020C020102", "", 0x9000),
            ("10D60010FF" + data[:255].hex(), "", 0x9000),
            ("10D60010FF" + data[255:510].hex(), "", 0x9000),
            ("00D600105A" + data[510:].hex(), "", 0x9000),
        ],
        extended=False,
    )
    s.write_file(0x0102, data, offset=16)
    done(s)


def test_append_file_writes_at_current_size() -> None:
    s = session(
        [
            ("00A4020402010300", fcp(0x0103, 0x0123, 8192), 0x9000),
            ("00D6012303ABCDEF", "", 0x9000),
        ]
    )
    assert s.append_file(0x0103, bytes.fromhex("ABCDEF")) == 0x123
    done(s)


@pytest.mark.parametrize("offset", [-1, 32768])
def test_write_file_offset_validated(offset: int) -> None:
    with pytest.raises(ValueError):
        session([]).write_file(0x0102, b"x", offset)


def test_verify_pin_bytes_and_errors() -> None:
    s = session(
        [
            ("0020008108313233343536FFFF", "", 0x9000),
            ("00200081083132333435363738", "", 0x63C1),
            ("0020008108313233343536FFFF", "", 0x6983),
        ]
    )
    s.verify_pin("123456")
    with pytest.raises(WrongPin) as info:
        s.verify_pin("12345678")
    assert info.value.tries_left == 1
    with pytest.raises(PinBlocked):
        s.verify_pin("123456")
    done(s)


@pytest.mark.parametrize(
    ("sw", "status"),
    [
        (0x9000, PinStatus(True, True, False, None)),
        (0x63C2, PinStatus(True, False, False, 2)),
        (0x6983, PinStatus(True, False, True, 0)),
        (0x6984, PinStatus(False, False, False, None)),
    ],
)
def test_pin_status(sw: int, status: PinStatus) -> None:
    s = session([("00200081", "", sw)])
    assert s.pin_status() == status


def test_change_pin() -> None:
    s = session([("0024008110313233343536FFFF363534333231FFFF", "", 0x9000)])
    s.change_pin("123456", "654321")
    done(s)


def test_unblock_pin_both_forms_and_errors() -> None:
    s = session(
        [
            ("002C008110" + (b"87654321" + b"1111111\xff").hex(), "", 0x9000),
            ("002C0181083837363534333231", "", 0x63C4),
            ("002C0181083837363534333231", "", 0x6983),
        ]
    )
    s.unblock_pin("87654321", "1111111")
    with pytest.raises(WrongPuk) as info:
        s.unblock_pin("87654321")
    assert info.value.tries_left == 4
    with pytest.raises(PukBlocked):
        s.unblock_pin("87654321")
    done(s)


def test_pin_validated_before_sending() -> None:
    s = session([])
    with pytest.raises(ValueError):
        s.verify_pin("12a456")
    with pytest.raises(ValueError):
        s.unblock_pin("1234567")
    assert not done(s).sent


def test_issuer_commands_need_the_channel() -> None:
    s = session([])
    for call in (
        lambda: s.set_pin("123456"),
        lambda: s.set_puk("12345678"),
        s.generate_card_key,
        s.lock,
        s.begin_personalisation,
    ):
        with pytest.raises(SecureChannelError, match="issuer secure channel"):
            call()
    assert not done(s).sent


def test_get_challenge_and_internal_authenticate() -> None:
    challenge = bytes(range(16))
    s = session(
        [
            ("0084000008", "11" * 8, 0x9000),
            ("0088000110" + challenge.hex() + "00", "22" * 64, 0x9000),
        ]
    )
    assert s.get_challenge(8) == b"\x11" * 8
    assert s.internal_authenticate(challenge) == b"\x22" * 64
    done(s)
    with pytest.raises(ValueError):
        s.internal_authenticate(bytes(7))
    with pytest.raises(ValueError):
        s.get_challenge(33)


def test_read_card_public_key_and_signature_check() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    s = session([("0047010100", build_tlv(0x7F49, build_tlv(0x86, point)).hex(), 0x9000)])
    public = s.read_card_public_key()
    challenge = b"0123456789abcdef"
    der = key.sign(wire.CARD_AUTH_DOMAIN + challenge, ec.ECDSA(hashes.SHA256()))
    r, sig_s = decode_dss_signature(der)
    plain = r.to_bytes(32, "big") + sig_s.to_bytes(32, "big")
    assert PermitCardSession.verify_card_signature(public, challenge, plain)
    assert not PermitCardSession.verify_card_signature(public, challenge + b"x", plain)
    assert not PermitCardSession.verify_card_signature(public, challenge, plain[:63])
    # without the domain prefix the card's signature must not verify
    der2 = key.sign(challenge, ec.ECDSA(hashes.SHA256()))
    r2, s2 = decode_dss_signature(der2)
    assert not PermitCardSession.verify_card_signature(
        public, challenge, r2.to_bytes(32, "big") + s2.to_bytes(32, "big")
    )


def test_bad_public_key_point() -> None:
    s = session(
        [("0047010100", build_tlv(0x7F49, build_tlv(0x86, b"\x04" + bytes(64))).hex(), 0x9000)]
    )
    with pytest.raises(ResponseFormatError):
        s.read_card_public_key()


def test_every_apdu_of_a_multi_apdu_method_runs_inside_a_transaction() -> None:
    def card(apdu: bytes) -> tuple[bytes, int]:
        assert conn.depth >= 1, "APDU sent outside a transaction"
        if apdu[1] == 0xA4 and apdu[3] == 0x04:
            return bytes.fromhex(fcp(0x0102, 600)), 0x9000
        if apdu[1] == 0xB0:
            return b"\x00" * 256, 0x9000
        return b"", 0x9000

    conn = ScriptedConnection(responder=card, extended=False)
    s = PermitCardSession(conn)
    s.read_file(0x0102)
    s.write_file(0x0102, bytes(600))
    s.append_file(0x0103, bytes(300))
    assert len(conn.sent) == 1 + 3 + 1 + 3 + 1 + 2
