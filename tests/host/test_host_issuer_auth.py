"""Host side of the issuer authentication counter (spec 6.8): typed errors, remaining tries,
blocked channel, EF.CardInfo tag 83 -- and that none of it carries key material."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import pytest

from card_service.card import errors as e
from card_service.card.errors import error_for_status
from card_service.card.info import CardInfo
from card_service.card.scp03 import StaticKeys, diversify_card_keys
from card_service.card.session import PermitCardSession, verify_card_signature
from card_service.card.tlv import build_tlv
from card_service.card.wire import ISSUER_AUTH_MAX_TRIES, SW, FileId, KeyRef, LifeCycle
from tests.host.conftest import DirectCard, DirectConnection

EXT = "EXTERNAL_AUTHENTICATE"
INIT = "INITIALIZE_UPDATE"
SERIAL = bytes.fromhex("0102030405060708")


# ---- the status-word mapper ----------------------------------------------------------------


@pytest.mark.parametrize("left", range(1, 16))
def test_63cx_to_external_authenticate(left: int) -> None:
    err = error_for_status(0x63C0 | left, command=EXT)
    assert type(err) is e.IssuerAuthenticationFailed
    assert isinstance(err, e.AuthenticationFailed)
    assert err.tries_left == left and err.sw == 0x63C0 | left
    assert str(err).startswith(f"{EXT}: ") and f"{left} tries left" in str(err)
    assert "blocked for good" in str(err)


def test_63c0_says_the_channel_is_now_blocked() -> None:
    err = error_for_status(0x63C0, command=EXT)
    assert type(err) is e.IssuerAuthenticationFailed and err.tries_left == 0
    assert "no tries left" in str(err) and "replace the card" in str(err)


def test_6300_from_a_1_0_card() -> None:
    err = error_for_status(SW.AUTHENTICATION_FAILED, command=EXT)
    assert type(err) is e.IssuerAuthenticationFailed and err.tries_left is None
    assert "tries" not in str(err)


@pytest.mark.parametrize("command", [INIT, EXT])
def test_6983_is_issuer_channel_blocked(command: str) -> None:
    err = error_for_status(SW.AUTH_METHOD_BLOCKED, command=command)
    assert type(err) is e.IssuerChannelBlocked
    assert isinstance(err, e.AuthenticationMethodBlocked)
    text = str(err)
    assert "read and verified" in text and "replace the card" in text
    assert "\n" not in text


def test_pin_and_puk_mapping_unchanged() -> None:
    assert type(error_for_status(0x63C2, command="VERIFY", reference=KeyRef.PIN)) is e.WrongPin
    assert type(error_for_status(0x6983, command="VERIFY", reference=KeyRef.PIN)) is e.PinBlocked
    assert type(error_for_status(0x63C2, command="VERIFY")) is e.VerificationFailed
    assert type(error_for_status(0x6983, command="VERIFY")) is e.AuthenticationMethodBlocked


def test_hierarchy() -> None:
    assert issubclass(e.IssuerAuthenticationFailed, e.ApduError)
    assert issubclass(e.IssuerChannelBlocked, e.ApduError)
    assert not issubclass(e.IssuerChannelBlocked, e.PinBlocked | e.PukBlocked)


# ---- EF.CardInfo ---------------------------------------------------------------------------


def card_info(extra: bytes) -> bytes:
    body = b"\x5a\x08" + SERIAL + bytes.fromhex("8A0105 80020101 810101 820107".replace(" ", ""))
    return build_tlv(0xE0, body + extra)


def test_card_info_counter() -> None:
    assert CardInfo.parse(card_info(b"\x83\x01\x07")).issuer_auth_tries == 7
    blocked = CardInfo.parse(card_info(b"\x83\x01\x00"))
    assert blocked.issuer_auth_tries == 0 and blocked.issuer_channel_blocked
    old = CardInfo.parse(card_info(b""))  # application 1.0: no counter
    assert old.issuer_auth_tries is None and not old.issuer_channel_blocked


@pytest.mark.parametrize("bad", [b"\x83\x02\x00\x05", b"\x83\x00", b"\x83\x01\x0b"])
def test_card_info_bad_counter(bad: bytes) -> None:
    with pytest.raises(e.ResponseFormatError):
        CardInfo.parse(card_info(bad))


# ---- against the simulator -----------------------------------------------------------------


class CorruptingConnection(DirectConnection):
    """A man in the middle that flips one bit of the host cryptogram in EXTERNAL
    AUTHENTICATE: the host holds the right keys, the card sees a wrong cryptogram."""

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if apdu[:2] == b"\x84\x82" and len(apdu) == 21:
            apdu = apdu[:5] + bytes([apdu[5] ^ 0x01]) + apdu[6:]
        return super().transmit(apdu)


def session(card: DirectCard, *, corrupt: bool = False) -> PermitCardSession:
    conn = CorruptingConnection(card.card) if corrupt else card.connect()
    s = PermitCardSession(conn)
    s.select()
    return s


def keys(card: DirectCard) -> Callable[[bytes, int], StaticKeys]:
    return lambda serial, kvn: diversify_card_keys(card.master_key, serial, kvn)


def test_wrong_keys_never_cost_the_card_a_try(direct_card: DirectCard) -> None:
    """A host with the wrong issuer key stops at the card cryptogram: nothing is counted."""
    s = session(direct_card)
    wrong = os.urandom(16)
    for _ in range(3 * ISSUER_AUTH_MAX_TRIES):
        with pytest.raises(e.SecureChannelError, match="card cryptogram"):
            s.open_issuer_channel(lambda serial, kvn: diversify_card_keys(wrong, serial, kvn))
    info = s.read_card_info()
    assert info.app_version == (1, 1) and info.issuer_auth_tries == ISSUER_AUTH_MAX_TRIES


def test_countdown_blocked_and_reported(
    direct_card: DirectCard, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s = session(direct_card, corrupt=True)
    seen: list[int | None] = []
    messages: list[str] = []
    for _ in range(ISSUER_AUTH_MAX_TRIES):
        with pytest.raises(e.IssuerAuthenticationFailed) as info:
            s.open_issuer_channel(keys(direct_card))
        seen.append(info.value.tries_left)
        messages.append(str(info.value))
    assert seen == list(range(ISSUER_AUTH_MAX_TRIES - 1, -1, -1))
    assert not s.issuer_channel_open
    with pytest.raises(e.IssuerChannelBlocked) as blocked:
        s.open_issuer_channel(keys(direct_card))
    messages.append(str(blocked.value))
    # an honest host now gets the same answer
    honest = session(direct_card)
    with pytest.raises(e.IssuerChannelBlocked):
        honest.open_issuer_channel(keys(direct_card))
    assert honest.read_card_info().issuer_channel_blocked
    # remaining tries and blocking are in the log; key material is not
    log = caplog.text
    assert "tries left: 0" in log and "issuer channel is blocked" in log
    static = diversify_card_keys(direct_card.master_key, direct_card.card.serial, 1)
    for secret in (direct_card.master_key, static.enc, static.mac, static.dek):
        for text in [log, *messages]:
            assert secret.hex() not in text.lower()


def test_success_restores_through_the_host(direct_card: DirectCard) -> None:
    bad = session(direct_card, corrupt=True)
    for _ in range(4):
        with pytest.raises(e.IssuerAuthenticationFailed):
            bad.open_issuer_channel(keys(direct_card))
    good = session(direct_card)
    assert good.read_card_info().issuer_auth_tries == ISSUER_AUTH_MAX_TRIES - 4
    good.open_issuer_channel(keys(direct_card))
    assert good.issuer_channel_open
    good.begin_personalisation()
    assert good.read_card_info().issuer_auth_tries == ISSUER_AUTH_MAX_TRIES


def test_blocked_issued_card_still_proves_itself(direct_card: DirectCard) -> None:
    """What a verifier does (read the record, authenticate the card key) works on a card
    whose issuer channel is blocked; endorsing it does not."""
    s = session(direct_card)
    s.open_issuer_channel(keys(direct_card))
    s.begin_personalisation()
    s.write_file(FileId.RECORD, b"\xa1" * 300)
    public_key = s.generate_card_key()
    s.set_pin("493817")
    s.set_puk("27364519")
    s.lock()
    bad = session(direct_card, corrupt=True)
    for _ in range(ISSUER_AUTH_MAX_TRIES):
        with pytest.raises(e.IssuerAuthenticationFailed):
            bad.open_issuer_channel(keys(direct_card))
    v = session(direct_card)
    info = v.read_card_info()
    assert info.life_cycle is LifeCycle.ISSUED and info.issuer_channel_blocked
    assert v.read_file(FileId.RECORD) == b"\xa1" * 300
    challenge = os.urandom(32)
    assert verify_card_signature(
        v.read_card_public_key(), challenge, v.internal_authenticate(challenge)
    )
    assert v.read_card_public_key().public_numbers() == public_key.public_numbers()
    v.verify_pin("493817")
    with pytest.raises(e.IssuerChannelBlocked):
        v.open_issuer_channel(keys(direct_card))
    with pytest.raises(e.SecurityStatusNotSatisfied):
        v.append_file(FileId.ENDORSEMENTS, b"endorsement")  # plain: the card refuses (6982)
    assert v.read_file(FileId.ENDORSEMENTS) == b""
