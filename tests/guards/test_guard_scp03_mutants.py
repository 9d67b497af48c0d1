"""The host's issuer secure channel (card_service/card/scp03.py) where a mutation sample found
no killing test.

* every failure path closes the channel for good: after a transport error, an error status
  that carries data, 6982/6987/6988, a malformed response, a bad R-MAC or bad padding, the
  next command is refused without a byte going to the card;
* ``InitializeUpdateResponse.parse`` takes exactly 29 bytes, diversification 0001, SCP03
  i=60 (each checked on its own) and key versions 1-127, and slices the fields right;
* ``iso_unpad`` strips at most one block of padding and needs whole blocks;
* 63xx warnings are answered wrapped (R-MAC and data), like 62xx;
* Le and Lc stay short unless they must be extended; a wrapped command is chained exactly
  when its wrapped form would not fit a short APDU.

The reference card (``RefCard``) is the independent implementation of
docs/card-application.md section 6 in tests/host/test_host_scp03.py.
"""

from __future__ import annotations

import os

import pytest

from card_service.card.apdu import CommandApdu, ResponseApdu
from card_service.card.errors import ResponseFormatError, SecureChannelError
from card_service.card.scp03 import (
    SM_CHAIN_CHUNK,
    InitializeUpdateResponse,
    SecureChannel,
    iso_pad,
    iso_unpad,
)
from tests.host.test_host_scp03 import RefCard, opened, ref_cbc, ref_cmac, ref_ecb

READ = CommandApdu(0x00, 0xB0, 0, 0, ne=16)


def assert_closed_for_good(card: RefCard, channel: SecureChannel) -> None:
    assert not channel.is_open
    sent = len(card.conn.sent)
    card.conn.responder = card.respond
    card.reply = (b"ok", 0x9000)
    with pytest.raises(SecureChannelError, match="closed"):
        channel.send(READ)
    with pytest.raises(SecureChannelError, match="closed"):
        channel.transceive(CommandApdu(0x80, 0xF0, 0, 3))
    assert len(card.conn.sent) == sent


# -- the channel closes on every failure --------------------------------------------------


def test_a_transport_error_closes_the_channel() -> None:
    card, _, channel = opened()
    counter = channel.counter

    def unplugged(apdu: bytes) -> tuple[bytes, int]:
        raise OSError("reader removed")

    card.conn.responder = unplugged
    with pytest.raises(OSError):
        channel.send(READ)
    assert channel.counter == counter + 1  # the card may have counted it
    assert_closed_for_good(card, channel)


def test_an_error_status_carrying_data_closes_the_channel() -> None:
    card, _, channel = opened()
    card.conn.responder = lambda apdu: (b"\x01\x02\x03", 0x6A82)
    with pytest.raises(SecureChannelError, match="carries data"):
        channel.transceive(READ)
    assert_closed_for_good(card, channel)


@pytest.mark.parametrize("sw", [0x6982, 0x6987, 0x6988])
def test_a_card_closing_its_side_closes_the_host_channel(sw: int) -> None:
    card, _, channel = opened()
    card.reply = (b"", sw)
    assert channel.transceive(READ).sw == sw
    assert_closed_for_good(card, channel)


@pytest.mark.parametrize("sw", [0x6A82, 0x6A86, 0x6700])
def test_other_error_statuses_leave_the_channel_open(sw: int) -> None:
    card, _, channel = opened()
    card.reply = (b"", sw)
    assert channel.transceive(READ) == ResponseApdu(b"", sw)
    assert channel.is_open
    card.reply = (b"ok", 0x9000)
    assert channel.send(READ) == b"ok"


def test_a_malformed_response_closes_the_channel_for_good() -> None:
    card, _, channel = opened()
    card.conn.responder = lambda apdu: (bytes(12), 0x9000)
    with pytest.raises(SecureChannelError, match="malformed"):
        channel.send(READ)
    assert_closed_for_good(card, channel)


def test_a_bad_rmac_closes_the_channel_for_good() -> None:
    card, _, channel = opened()
    card.reply = (b"data", 0x9000)
    card.tamper_rmac = True
    with pytest.raises(SecureChannelError, match="R-MAC"):
        channel.send(READ)
    card.tamper_rmac = False
    assert_closed_for_good(card, channel)


def test_bad_padding_under_a_valid_rmac_closes_the_channel_for_good() -> None:
    """The card (or whoever holds S-RMAC) sends a block that does not unpad."""
    card, _, channel = opened()
    card.reply = (b"", 0x9000)

    def unpadded(apdu: bytes) -> tuple[bytes, int]:
        counter = card.counter
        card.respond(apdu)  # checks the command, moves the MCV and the counter
        icv = ref_ecb(card.s_enc, b"\x80" + counter.to_bytes(15, "big"))
        enc = ref_cbc(card.s_enc, icv, b"\x01" * 16)
        rmac = ref_cmac(card.s_rmac, card.mcv + enc + b"\x90\x00")[:8]
        return enc + rmac, 0x9000

    card.conn.responder = unpadded
    with pytest.raises(SecureChannelError, match="padding"):
        channel.send(READ)
    assert_closed_for_good(card, channel)


# -- INITIALIZE UPDATE response -------------------------------------------------------------

SERIAL = bytes.fromhex("0102030405060708")
CHALLENGE = bytes.fromhex("A0A1A2A3A4A5A6A7")
CRYPTOGRAM = bytes.fromhex("B0B1B2B3B4B5B6B7")


def init_response(
    *, method: bytes = b"\x00\x01", kvn: int = 1, scp: int = 0x03, i: int = 0x60
) -> bytes:
    return method + SERIAL + bytes((kvn, scp, i)) + CHALLENGE + CRYPTOGRAM


@pytest.mark.parametrize("kvn", [1, 0x40, 0x7F])
def test_initialize_update_response_fields(kvn: int) -> None:
    info = InitializeUpdateResponse.parse(init_response(kvn=kvn))
    assert (info.serial, info.kvn, info.card_challenge, info.card_cryptogram) == (
        SERIAL,
        kvn,
        CHALLENGE,
        CRYPTOGRAM,
    )


@pytest.mark.parametrize("length", [0, 28, 30, 31])
def test_initialize_update_response_length(length: int) -> None:
    data = (init_response() + b"\x00\x00")[:length]
    with pytest.raises(ResponseFormatError, match=f"{length} bytes"):
        InitializeUpdateResponse.parse(data)


@pytest.mark.parametrize("method", [b"\x00\x00", b"\x00\x02", b"\x01\x01", b"\xff\xff"])
def test_initialize_update_unknown_diversification(method: bytes) -> None:
    with pytest.raises(ResponseFormatError, match="diversification"):
        InitializeUpdateResponse.parse(init_response(method=method))


@pytest.mark.parametrize(
    ("scp", "i"),
    [(0x02, 0x60), (0x04, 0x60), (0x03, 0x10), (0x03, 0x70), (0x02, 0x15), (0x01, 0x00)],
)
def test_initialize_update_other_protocol_is_refused(scp: int, i: int) -> None:
    """SCP and i are checked each on its own: right SCP with a wrong i is refused too."""
    with pytest.raises(ResponseFormatError, match="expected SCP03 i=60"):
        InitializeUpdateResponse.parse(init_response(scp=scp, i=i))


@pytest.mark.parametrize("kvn", [0, 0x80, 0xFF])
def test_initialize_update_kvn_out_of_range(kvn: int) -> None:
    with pytest.raises(ResponseFormatError, match="key version"):
        InitializeUpdateResponse.parse(init_response(kvn=kvn))


# -- padding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"A" * 15 + b"\x80" + bytes(16),  # 17 bytes of "padding": more than one block
        b"\x80" + bytes(31),
        bytes(32),
    ],
)
def test_unpad_strips_at_most_one_block(data: bytes) -> None:
    with pytest.raises(SecureChannelError, match="bad padding"):
        iso_unpad(data)


@pytest.mark.parametrize("data", [b"\x80", b"A" * 16 + b"\x80", b"A" * 15 + b"\x80" + b"A"])
def test_unpad_needs_whole_blocks(data: bytes) -> None:
    with pytest.raises(SecureChannelError, match="whole number of blocks"):
        iso_unpad(data)


@pytest.mark.parametrize("n", [0, 1, 14, 15, 16, 31, 32])
def test_unpad_keeps_trailing_zeros_and_0x80_of_the_data(n: int) -> None:
    data = (b"\x80\x00" * 20)[:n]
    assert iso_unpad(iso_pad(data)) == data
    assert iso_unpad(b"\x80" + bytes(15)) == b""


# -- warnings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sw", [0x6200, 0x6282, 0x6300, 0x63C1])
def test_warning_answers_are_unwrapped_and_keep_the_channel(sw: int) -> None:
    card, _, channel = opened()
    card.reply = (b"counter", sw)
    assert channel.transceive(READ) == ResponseApdu(b"counter", sw)
    assert channel.is_open
    card.reply = (b"next", 0x9000)
    assert channel.send(READ) == b"next"


def test_a_warning_with_a_bad_rmac_is_refused() -> None:
    card, _, channel = opened()
    card.reply = (b"counter", 0x63C1)
    card.tamper_rmac = True
    with pytest.raises(SecureChannelError, match="R-MAC"):
        channel.transceive(READ)
    assert not channel.is_open


# -- lengths ----------------------------------------------------------------------------------


def test_ne_256_stays_short_on_an_extended_reader() -> None:
    card, _, channel = opened(extended=True)
    channel.transceive(CommandApdu(0x00, 0xB0, 0, 0, b"\x01", ne=256))
    sent = card.conn.sent[-1]
    assert sent[4] == len(sent) - 6 and sent[-1] == 0x00  # short Lc, Le 00 (256)


def test_ne_above_256_goes_extended_on_an_extended_reader() -> None:
    card, _, channel = opened(extended=True)
    channel.transceive(CommandApdu(0x00, 0xB0, 0, 0, b"\x01", ne=257))
    sent = card.conn.sent[-1]
    assert sent[4] == 0 and int.from_bytes(sent[5:7], "big") == len(sent) - 9
    assert sent[-2:] == b"\x01\x01"


def test_ne_above_256_is_capped_on_a_short_reader() -> None:
    card, _, channel = opened(extended=False)
    card.reply = (b"x" * 40, 0x9000)
    assert channel.send(CommandApdu(0x00, 0xB0, 0, 0, ne=1000)) == b"x" * 40
    sent = card.conn.sent[-1]
    assert len(sent) == 5 + 8 + 1 and sent[-1] == 0x00


def test_no_le_on_an_extended_command_asks_for_everything() -> None:
    card, _, channel = opened(extended=True)
    channel.transceive(CommandApdu(0x00, 0xD6, 0, 0, os.urandom(300)))
    assert card.conn.sent[-1][-2:] == b"\x00\x00"
    channel.transceive(CommandApdu(0x00, 0xD6, 0, 0, os.urandom(10)))
    assert card.conn.sent[-1][-1:] == b"\x00" and card.conn.sent[-1][4] == 16 + 8


@pytest.mark.parametrize(("size", "links"), [(SM_CHAIN_CHUNK, 1), (SM_CHAIN_CHUNK + 1, 2)])
def test_chained_exactly_when_the_wrapped_command_exceeds_a_short_apdu(
    size: int, links: int
) -> None:
    """239 plain bytes wrap to 240 + 8 = 248 (fits in a short Lc); 240 wrap to 264 (do not)."""
    assert len(iso_pad(bytes(SM_CHAIN_CHUNK))) + 8 <= 255 < len(iso_pad(bytes(size + 1))) + 8
    card, _, channel = opened(extended=False)
    data = os.urandom(size)
    before = len(card.conn.sent)
    channel.send(CommandApdu(0x00, 0xD6, 0, 0, data))
    sent = card.conn.sent[before:]
    assert len(sent) == links
    assert all(a[4] <= 255 and len(a) == 5 + a[4] + 1 for a in sent)
    assert b"".join(c[4] for c in card.commands) == data


def test_a_long_command_on_an_extended_reader_is_not_chained() -> None:
    card, _, channel = opened(extended=True)
    data = os.urandom(SM_CHAIN_CHUNK + 1)
    before = len(card.conn.sent)
    channel.send(CommandApdu(0x00, 0xD6, 0, 0, data))
    assert len(card.conn.sent) - before == 1 and card.commands[-1][4] == data


@pytest.mark.parametrize("extended", [True, False])
@pytest.mark.parametrize("ne", [1, 16, 255])
def test_a_short_le_is_sent_as_asked(extended: bool, ne: int) -> None:
    card, _, channel = opened(extended=extended)
    channel.transceive(CommandApdu(0x00, 0xB0, 0, 0, ne=ne))
    sent = card.conn.sent[-1]
    assert len(sent) == 5 + 8 + 1 and sent[-1] == ne
