"""Typed card errors and the one place where status words are interpreted.

:func:`error_for_status` maps a status word (plus what the command was about) to
an exception.  Messages name the command and the meaning of the SW; they never
contain command or response data, PINs, keys or cryptograms.
"""

from __future__ import annotations

from permit_errors import ErrorKind, PermitError

from .wire import SW, Ins, KeyRef

__all__ = [
    "ApduError",
    "AuthenticationFailed",
    "AuthenticationMethodBlocked",
    "CardError",
    "ChainingError",
    "ClaNotSupported",
    "ConditionsNotSatisfied",
    "EndOfFile",
    "FileNotFound",
    "IncorrectData",
    "IncorrectP1P2",
    "InsNotSupported",
    "IssuerAuthenticationFailed",
    "IssuerChannelBlocked",
    "KeyVersionMismatch",
    "MemoryFailure",
    "NoCurrentEf",
    "NotEnoughMemory",
    "PinBlocked",
    "PukBlocked",
    "ReferenceDataNotFound",
    "ReferenceDataNotUsable",
    "ResponseFormatError",
    "SecureChannelError",
    "SecureMessagingError",
    "SecurityStatusNotSatisfied",
    "TlvError",
    "VerificationFailed",
    "WrongLength",
    "WrongOffset",
    "WrongPin",
    "WrongPuk",
    "error_for_status",
    "sw_meaning",
]


class CardError(PermitError):
    """Base of every error of the card application's host side."""

    code = "card_error"
    kind = ErrorKind.UNAVAILABLE


class ResponseFormatError(CardError):
    """The card answered something the specification does not allow."""

    code = "card_response_invalid"
    kind = ErrorKind.INTEGRITY


class TlvError(ResponseFormatError):
    """Malformed BER-TLV or COMPACT-TLV data."""

    code = "card_tlv_invalid"
    kind = ErrorKind.INTEGRITY


class SecureChannelError(CardError):
    """The issuer secure channel failed on the host side.

    Card cryptogram mismatch (wrong issuer key, or not our card), a bad R-MAC
    or malformed wrapped response, or use of a channel that is closed.  After a
    response check fails the channel is unusable.
    """

    code = "secure_channel_failed"
    kind = ErrorKind.INTEGRITY


class KeyVersionMismatch(SecureChannelError):
    """INITIALIZE UPDATE named key version ``requested`` but the card answered with its
    key version ``reported``: the card does not hold the keys asked for (or is not a
    conforming card, which answers ``6A88`` for an unknown KVN).  Key versions are not
    secret, so the message gives both."""

    code = "card_key_version_mismatch"
    kind = ErrorKind.CONFLICT

    def __init__(self, requested: int, reported: int) -> None:
        self.requested = requested
        self.reported = reported
        super().__init__(
            f"INITIALIZE UPDATE: key version {requested} requested, "
            f"card answered with key version {reported}"
        )


class ApduError(CardError):
    """The card refused a command: ``sw`` is the status word."""

    code = "card_refused"
    kind = ErrorKind.CONFLICT

    def __init__(self, sw: int, command: str = "", message: str | None = None) -> None:
        self.sw = sw
        self.command = command
        self.meaning = sw_meaning(sw)
        text = message or f"SW {sw:04X}: {self.meaning}"
        super().__init__(f"{command}: {text}" if command else text)


class EndOfFile(ApduError):
    """6282: fewer bytes than requested (a warning; reads treat it as success)."""

    code = "card_end_of_file"
    kind = ErrorKind.INTEGRITY


class VerificationFailed(ApduError):
    """63Cx: a reference-data comparison failed; ``tries_left`` = x."""

    code = "card_verification_failed"
    kind = ErrorKind.UNAUTHORISED

    def __init__(self, sw: int, command: str = "") -> None:
        self.tries_left = sw & 0x0F
        super().__init__(sw, command, f"verification failed, {self.tries_left} tries left")


class WrongPin(VerificationFailed):
    """The PIN was wrong; ``tries_left`` before the PIN is blocked."""

    code = "wrong_pin"
    kind = ErrorKind.UNAUTHORISED


class WrongPuk(VerificationFailed):
    """The PUK was wrong; ``tries_left`` before the PUK (and the card) is blocked."""

    code = "wrong_puk"
    kind = ErrorKind.UNAUTHORISED


class AuthenticationFailed(ApduError):
    """6300: EXTERNAL AUTHENTICATE host cryptogram rejected."""

    code = "card_authentication_failed"
    kind = ErrorKind.UNAUTHORISED


class IssuerAuthenticationFailed(AuthenticationFailed):
    """The card rejected EXTERNAL AUTHENTICATE: it did not authenticate the host (spec 6.8).

    ``tries_left``: failed issuer authentications the card still allows before it blocks
    its issuer channel for good (from ``63Cx``); ``None`` for an application 1.0 card,
    which answers ``6300`` and does not count.  The message never carries key material.
    """

    code = "issuer_authentication_failed"
    kind = ErrorKind.UNAUTHORISED

    def __init__(self, sw: int, command: str = "") -> None:
        self.tries_left: int | None = sw & 0x0F if sw & 0xFFF0 == SW.VERIFY_FAIL_00 else None
        if self.tries_left is None:
            text = "the card rejected the issuer authentication (host cryptogram)"
        elif self.tries_left == 0:
            text = (
                "the card rejected the issuer authentication and has no tries left: "
                "its issuer channel is now blocked for good (replace the card)"
            )
        else:
            text = (
                f"the card rejected the issuer authentication, {self.tries_left} tries left "
                "before its issuer channel is blocked for good"
            )
        super().__init__(sw, command, text)


class MemoryFailure(ApduError):
    """6581: the card's non-volatile memory failed."""

    code = "card_memory_failure"
    kind = ErrorKind.UNAVAILABLE


class WrongLength(ApduError):
    """6700: wrong length (malformed APDU, Nc or Le out of range)."""

    code = "card_wrong_length"
    kind = ErrorKind.INTEGRITY


class ChainingError(ApduError):
    """6883 / 6884: command chaining broken or not allowed for this command."""

    code = "card_chaining_error"
    kind = ErrorKind.INTEGRITY


class SecurityStatusNotSatisfied(ApduError):
    """6982: access condition not met (PIN not verified, issuer channel needed, bad C-MAC)."""

    code = "card_security_status_not_satisfied"
    kind = ErrorKind.UNAUTHORISED


class AuthenticationMethodBlocked(ApduError):
    """6983: the reference data (PIN or PUK) is blocked."""

    code = "card_authentication_blocked"
    kind = ErrorKind.UNAUTHORISED


class PinBlocked(AuthenticationMethodBlocked):
    """The PIN is blocked; unblock it with the PUK."""

    code = "pin_blocked"
    kind = ErrorKind.UNAUTHORISED


class PukBlocked(AuthenticationMethodBlocked):
    """The PUK is blocked permanently; the card must be replaced."""

    code = "puk_blocked"
    kind = ErrorKind.UNAUTHORISED


class IssuerChannelBlocked(AuthenticationMethodBlocked):
    """6983 to INITIALIZE UPDATE or EXTERNAL AUTHENTICATE: after too many failed issuer
    authentications the card has blocked its issuer channel for good (spec 6.8).  It can
    still be read and verified, but no longer personalised, endorsed or terminated: the
    issuing office replaces the card."""

    code = "issuer_channel_blocked"
    kind = ErrorKind.UNAUTHORISED


class ReferenceDataNotUsable(ApduError):
    """6984: the PIN or PUK has not been set."""

    code = "card_reference_data_not_usable"
    kind = ErrorKind.CONFLICT


class ConditionsNotSatisfied(ApduError):
    """6985: the life-cycle state (or the command sequence) forbids the command."""

    code = "card_conditions_not_satisfied"
    kind = ErrorKind.CONFLICT


class NoCurrentEf(ApduError):
    """6986: no current EF."""

    code = "card_no_current_ef"
    kind = ErrorKind.INTEGRITY


class SecureMessagingError(ApduError):
    """6987 / 6988: the card rejected the secure-messaging structure; it closed the channel."""

    code = "card_secure_messaging_error"
    kind = ErrorKind.INTEGRITY


class IncorrectData(ApduError):
    """6A80: malformed command data (e.g. a PIN block)."""

    code = "card_incorrect_data"
    kind = ErrorKind.INVALID


class FileNotFound(ApduError):
    """6A82: unknown AID, FID or SFI."""

    code = "card_file_not_found"
    kind = ErrorKind.NOT_FOUND


class NotEnoughMemory(ApduError):
    """6A84: the write would exceed the file's maximum size."""

    code = "card_memory_full"
    kind = ErrorKind.CONFLICT


class IncorrectP1P2(ApduError):
    """6A86: incorrect P1/P2."""

    code = "card_incorrect_p1p2"
    kind = ErrorKind.INTEGRITY


class ReferenceDataNotFound(ApduError):
    """6A88: referenced key or data not found (unknown KVN, no card key)."""

    code = "card_reference_data_not_found"
    kind = ErrorKind.NOT_FOUND


class WrongOffset(ApduError):
    """6B00: offset beyond the current size of the file."""

    code = "card_wrong_offset"
    kind = ErrorKind.INTEGRITY


class InsNotSupported(ApduError):
    """6D00: instruction not supported."""

    code = "card_ins_not_supported"
    kind = ErrorKind.INTEGRITY


class ClaNotSupported(ApduError):
    """6E00: class not supported."""

    code = "card_cla_not_supported"
    kind = ErrorKind.INTEGRITY


_MEANINGS: dict[int, str] = {
    SW.OK: "success",
    SW.END_OF_FILE: "end of file reached before reading Ne bytes",
    SW.AUTHENTICATION_FAILED: "authentication failed",
    SW.MEMORY_FAILURE: "memory failure",
    SW.WRONG_LENGTH: "wrong length",
    SW.LAST_COMMAND_OF_CHAIN_EXPECTED: "last command of the chain expected",
    SW.COMMAND_CHAINING_NOT_SUPPORTED: "command chaining not supported",
    SW.SECURITY_STATUS_NOT_SATISFIED: "security status not satisfied",
    SW.AUTH_METHOD_BLOCKED: "authentication method blocked",
    SW.REFERENCE_DATA_NOT_USABLE: "reference data not usable",
    SW.CONDITIONS_OF_USE_NOT_SATISFIED: "conditions of use not satisfied",
    SW.COMMAND_NOT_ALLOWED_NO_EF: "command not allowed (no current EF)",
    SW.SM_DATA_OBJECTS_MISSING: "expected secure messaging data objects missing",
    SW.SM_DATA_OBJECTS_INCORRECT: "incorrect secure messaging data objects",
    SW.INCORRECT_DATA: "incorrect parameters in the command data field",
    SW.FILE_NOT_FOUND: "file or application not found",
    SW.NOT_ENOUGH_MEMORY: "not enough memory space in the file",
    SW.INCORRECT_P1P2: "incorrect parameters P1-P2",
    SW.REFERENCED_DATA_NOT_FOUND: "referenced data or reference data not found",
    SW.WRONG_P1P2: "wrong parameters P1-P2 (offset outside the EF)",
    SW.INS_NOT_SUPPORTED: "instruction code not supported",
    SW.CLA_NOT_SUPPORTED: "class not supported",
    SW.NO_PRECISE_DIAGNOSIS: "no precise diagnosis",
}

_CLASSES: dict[int, type[ApduError]] = {
    SW.END_OF_FILE: EndOfFile,
    SW.AUTHENTICATION_FAILED: AuthenticationFailed,
    SW.MEMORY_FAILURE: MemoryFailure,
    SW.WRONG_LENGTH: WrongLength,
    SW.LAST_COMMAND_OF_CHAIN_EXPECTED: ChainingError,
    SW.COMMAND_CHAINING_NOT_SUPPORTED: ChainingError,
    SW.SECURITY_STATUS_NOT_SATISFIED: SecurityStatusNotSatisfied,
    SW.AUTH_METHOD_BLOCKED: AuthenticationMethodBlocked,
    SW.REFERENCE_DATA_NOT_USABLE: ReferenceDataNotUsable,
    SW.CONDITIONS_OF_USE_NOT_SATISFIED: ConditionsNotSatisfied,
    SW.COMMAND_NOT_ALLOWED_NO_EF: NoCurrentEf,
    SW.SM_DATA_OBJECTS_MISSING: SecureMessagingError,
    SW.SM_DATA_OBJECTS_INCORRECT: SecureMessagingError,
    SW.INCORRECT_DATA: IncorrectData,
    SW.FILE_NOT_FOUND: FileNotFound,
    SW.NOT_ENOUGH_MEMORY: NotEnoughMemory,
    SW.INCORRECT_P1P2: IncorrectP1P2,
    SW.REFERENCED_DATA_NOT_FOUND: ReferenceDataNotFound,
    SW.WRONG_P1P2: WrongOffset,
    SW.INS_NOT_SUPPORTED: InsNotSupported,
    SW.CLA_NOT_SUPPORTED: ClaNotSupported,
}


def sw_meaning(sw: int) -> str:
    """A readable meaning of ``sw`` (ISO/IEC 7816-4 table 5/6 wording)."""
    if sw in _MEANINGS:
        return _MEANINGS[sw]
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        return f"{sw2 or 256} more response bytes available"
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        return f"verification failed, {sw2 & 0x0F} tries left"
    if sw1 == 0x6C:
        return f"wrong Le, {sw2 or 256} bytes available"
    if sw1 == 0x62:
        return "warning, non-volatile memory unchanged"
    if sw1 == 0x63:
        return "warning, non-volatile memory changed"
    return "unknown status word"


def command_name(ins: int) -> str:
    """``Ins`` name for logs and messages, e.g. ``UPDATE_BINARY``."""
    try:
        return Ins(ins).name
    except ValueError:
        return f"INS {ins:02X}"


#: Commands of the issuer channel handshake: their 63Cx / 6983 / 6300 concern the issuer
#: authentication counter (spec 6.8), whatever ``reference`` says.
_ISSUER_AUTH_COMMANDS = frozenset({Ins.INITIALIZE_UPDATE.name, Ins.EXTERNAL_AUTHENTICATE.name})


def error_for_status(sw: int, *, command: str = "", reference: int | None = None) -> ApduError:
    """The typed error for status word ``sw``.

    ``command`` names the command (``command_name(ins)``, also for the message);
    ``reference`` is the reference data the command used (``KeyRef.PIN`` or
    ``KeyRef.PUK``), which turns 63Cx into WrongPin/WrongPuk and 6983 into
    PinBlocked/PukBlocked.  For INITIALIZE UPDATE and EXTERNAL AUTHENTICATE, 6300/63Cx
    is :class:`IssuerAuthenticationFailed` and 6983 :class:`IssuerChannelBlocked`.
    """
    sw1 = sw >> 8
    if command in _ISSUER_AUTH_COMMANDS:
        if sw == SW.AUTHENTICATION_FAILED or sw & 0xFFF0 == SW.VERIFY_FAIL_00:
            return IssuerAuthenticationFailed(sw, command)
        if sw == SW.AUTH_METHOD_BLOCKED:
            return IssuerChannelBlocked(
                sw,
                command,
                "the card's issuer channel is blocked after too many failed authentications: "
                "it can still be read and verified, but no longer personalised, endorsed or "
                "terminated (replace the card)",
            )
    if sw1 == 0x63 and sw & 0xF0 == 0xC0:
        if reference == KeyRef.PIN:
            return WrongPin(sw, command)
        if reference == KeyRef.PUK:
            return WrongPuk(sw, command)
        return VerificationFailed(sw, command)
    if sw == SW.AUTH_METHOD_BLOCKED:
        if reference == KeyRef.PIN:
            return PinBlocked(sw, command, "PIN blocked (unblock it with the PUK)")
        if reference == KeyRef.PUK:
            return PukBlocked(sw, command, "PUK blocked (the card must be replaced)")
    cls = _CLASSES.get(sw, ApduError)
    return cls(sw, command)
