"""The status-word mapper: every SW of wire.SW gives its typed error."""

from __future__ import annotations

import pytest

from card_service.card import errors as e
from card_service.card.wire import SW, KeyRef

EXPECTED: dict[SW, type[e.ApduError]] = {
    SW.OK: e.ApduError,
    SW.BYTES_REMAINING_00: e.ApduError,
    SW.END_OF_FILE: e.EndOfFile,
    SW.AUTHENTICATION_FAILED: e.AuthenticationFailed,
    SW.VERIFY_FAIL_00: e.VerificationFailed,
    SW.MEMORY_FAILURE: e.MemoryFailure,
    SW.WRONG_LENGTH: e.WrongLength,
    SW.LAST_COMMAND_OF_CHAIN_EXPECTED: e.ChainingError,
    SW.COMMAND_CHAINING_NOT_SUPPORTED: e.ChainingError,
    SW.SECURITY_STATUS_NOT_SATISFIED: e.SecurityStatusNotSatisfied,
    SW.AUTH_METHOD_BLOCKED: e.AuthenticationMethodBlocked,
    SW.REFERENCE_DATA_NOT_USABLE: e.ReferenceDataNotUsable,
    SW.CONDITIONS_OF_USE_NOT_SATISFIED: e.ConditionsNotSatisfied,
    SW.COMMAND_NOT_ALLOWED_NO_EF: e.NoCurrentEf,
    SW.SM_DATA_OBJECTS_MISSING: e.SecureMessagingError,
    SW.SM_DATA_OBJECTS_INCORRECT: e.SecureMessagingError,
    SW.INCORRECT_DATA: e.IncorrectData,
    SW.FILE_NOT_FOUND: e.FileNotFound,
    SW.NOT_ENOUGH_MEMORY: e.NotEnoughMemory,
    SW.INCORRECT_P1P2: e.IncorrectP1P2,
    SW.REFERENCED_DATA_NOT_FOUND: e.ReferenceDataNotFound,
    SW.WRONG_P1P2: e.WrongOffset,
    SW.INS_NOT_SUPPORTED: e.InsNotSupported,
    SW.CLA_NOT_SUPPORTED: e.ClaNotSupported,
    SW.NO_PRECISE_DIAGNOSIS: e.ApduError,
}


def test_table_covers_every_sw() -> None:
    assert set(EXPECTED) == set(SW)


@pytest.mark.parametrize("sw", list(SW), ids=lambda sw: f"{sw.value:04X}")
def test_every_sw_maps_to_its_type(sw: SW) -> None:
    err = e.error_for_status(sw, command="READ_BINARY")
    assert type(err) is EXPECTED[sw]
    assert err.sw == sw
    assert f"{sw.value:04X}" in str(err) or "tries left" in str(err)
    assert str(err).startswith("READ_BINARY: ")
    assert "unknown" not in e.sw_meaning(sw)


@pytest.mark.parametrize("tries", [0, 1, 2, 9])
def test_63cx_with_references(tries: int) -> None:
    sw = 0x63C0 | tries
    pin = e.error_for_status(sw, reference=KeyRef.PIN)
    puk = e.error_for_status(sw, reference=KeyRef.PUK)
    plain = e.error_for_status(sw)
    assert type(pin) is e.WrongPin and pin.tries_left == tries
    assert type(puk) is e.WrongPuk and puk.tries_left == tries
    assert type(plain) is e.VerificationFailed and plain.tries_left == tries
    assert f"{tries} tries left" in str(pin)


def test_6983_with_references() -> None:
    assert type(e.error_for_status(0x6983, reference=KeyRef.PIN)) is e.PinBlocked
    assert type(e.error_for_status(0x6983, reference=KeyRef.PUK)) is e.PukBlocked
    assert type(e.error_for_status(0x6983)) is e.AuthenticationMethodBlocked
    assert isinstance(
        e.error_for_status(0x6983, reference=KeyRef.PIN), e.AuthenticationMethodBlocked
    )


def test_unknown_and_family_meanings() -> None:
    assert "unknown" in e.sw_meaning(0x6FFF)
    assert "12 more" in e.sw_meaning(0x610C)
    assert "256 more" in e.sw_meaning(0x6100)
    assert "wrong Le" in e.sw_meaning(0x6C10)
    err = e.error_for_status(0x6FFF)
    assert type(err) is e.ApduError and err.sw == 0x6FFF


def test_hierarchy() -> None:
    assert issubclass(e.ApduError, e.CardError)
    assert issubclass(e.SecureChannelError, e.CardError)
    assert issubclass(e.TlvError, e.ResponseFormatError)
    assert issubclass(e.WrongPin, e.VerificationFailed)
