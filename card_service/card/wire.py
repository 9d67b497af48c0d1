"""Wire constants of the permit card application.

This module is the only code shared between the host side (``card_service.card``)
and the card side (``simulators``).  Everything here is defined normatively in
``docs/card-application.md``; change both together.  It must stay free of logic
and of imports from the rest of the project, with one exception: the SCP03 derivation
constants, the serial length and the key length are defined once, in the key library
(``keys/diversify.py``, a leaf that cannot import this module), and re-exported here.
"""

from __future__ import annotations

from enum import IntEnum

from keys import diversify as _diversify

#: Application identifier: proprietary RID ``F0`` + ASCII "PERMIT" + version 01.
AID = bytes.fromhex("F05045524D495401")

#: Application version carried in EF.CardInfo and the FCI (major, minor).  1.1 added the
#: issuer authentication counter (docs/card-application.md, changelog).
APP_VERSION = (1, 1)

#: Historical bytes of the ATR (ISO/IEC 7816-4 8.1.1, category indicator 0x80).
HISTORICAL_BYTES = bytes.fromhex("80" "3180" "739001C0" "655045524D01")  # fmt: skip
#: ATR without its check byte: TS=3B, T0=8D (TD1 present, 13 historical bytes),
#: TD1=80 (TD2 present), TD2=01 (T=1); TCK is appended by :func:`atr`.
_ATR_PREFIX = bytes.fromhex("3B8D8001")


def atr() -> bytes:
    """Return the full ATR including the TCK check byte."""
    body = _ATR_PREFIX + HISTORICAL_BYTES
    tck = 0
    for b in body[1:]:
        tck ^= b
    return body + bytes([tck])


class Cla(IntEnum):
    """Class bytes (ISO/IEC 7816-4 5.4.1 and GlobalPlatform)."""

    ISO = 0x00
    ISO_SM = 0x04  # ISO class with proprietary secure messaging (SCP03 wrapping)
    CHAIN = 0x10  # command-chaining bit, ORed into the class byte
    PROPRIETARY = 0x80
    PROPRIETARY_SM = 0x84


class Ins(IntEnum):
    SELECT = 0xA4
    READ_BINARY = 0xB0
    UPDATE_BINARY = 0xD6
    GET_CHALLENGE = 0x84
    VERIFY = 0x20
    CHANGE_REFERENCE_DATA = 0x24
    RESET_RETRY_COUNTER = 0x2C
    INTERNAL_AUTHENTICATE = 0x88
    GENERATE_ASYMMETRIC_KEY_PAIR = 0x47
    GET_RESPONSE = 0xC0
    # GlobalPlatform-style proprietary commands (CLA 80/84)
    INITIALIZE_UPDATE = 0x50
    EXTERNAL_AUTHENTICATE = 0x82
    SET_STATUS = 0xF0


class SW(IntEnum):
    """Every status word the application can return."""

    OK = 0x9000
    # 61xx: more data available (SW2 = bytes remaining, 00 = 256 or more)
    BYTES_REMAINING_00 = 0x6100
    END_OF_FILE = 0x6282
    AUTHENTICATION_FAILED = 0x6300  # wrong host cryptogram on 1.0 cards (1.1 answers 63Cx)
    VERIFY_FAIL_00 = 0x63C0  # 63Cx: x tries left (PIN, PUK, issuer authentication)
    MEMORY_FAILURE = 0x6581
    WRONG_LENGTH = 0x6700
    LAST_COMMAND_OF_CHAIN_EXPECTED = 0x6883
    COMMAND_CHAINING_NOT_SUPPORTED = 0x6884
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_NOT_USABLE = 0x6984
    CONDITIONS_OF_USE_NOT_SATISFIED = 0x6985
    COMMAND_NOT_ALLOWED_NO_EF = 0x6986
    SM_DATA_OBJECTS_MISSING = 0x6987
    SM_DATA_OBJECTS_INCORRECT = 0x6988
    INCORRECT_DATA = 0x6A80
    FILE_NOT_FOUND = 0x6A82
    NOT_ENOUGH_MEMORY = 0x6A84
    INCORRECT_P1P2 = 0x6A86
    REFERENCED_DATA_NOT_FOUND = 0x6A88
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00


class LifeCycle(IntEnum):
    """Application life-cycle states; values are ISO/IEC 7816-4 LCS bytes."""

    BLANK = 0x01  # creation state
    PERSONALISING = 0x03  # initialisation state
    ISSUED = 0x05  # operational state (activated); the card is locked
    TERMINATED = 0x0C  # termination state


class FileId(IntEnum):
    """Elementary files under the application DF (transparent EFs)."""

    CARD_INFO = 0x0101
    RECORD = 0x0102
    ENDORSEMENTS = 0x0103
    CARD_KEY = 0x0104
    HOLDER_DATA = 0x0105


#: Short EF identifiers (P1 = 0x80 | SFI in READ/UPDATE BINARY).
SFI = {
    FileId.CARD_INFO: 1,
    FileId.RECORD: 2,
    FileId.ENDORSEMENTS: 3,
    FileId.CARD_KEY: 4,
    FileId.HOLDER_DATA: 5,
}

#: Maximum content size of every EF in bytes.
FILE_MAX_SIZE = {
    FileId.CARD_INFO: 64,
    FileId.RECORD: 32768,
    FileId.ENDORSEMENTS: 8192,
    FileId.CARD_KEY: 70,
    FileId.HOLDER_DATA: 1024,
}

#: Master file identifier (selectable by SELECT P1=00).
MF_FID = 0x3F00


class KeyRef(IntEnum):
    """Key and reference-data references (P2 of VERIFY, GENERATE, ...)."""

    CARD_AUTH_KEY = 0x01
    PIN = 0x81
    PUK = 0x82


class SecurityLevel(IntEnum):
    """SCP03 security level bits (P1 of EXTERNAL AUTHENTICATE)."""

    C_MAC = 0x01
    C_DECRYPTION = 0x02
    R_MAC = 0x10
    R_ENCRYPTION = 0x20


#: The only security level the card accepts for the issuer channel.
REQUIRED_SECURITY_LEVEL = 0x33

#: SCP03 identifiers in the key information of INITIALIZE UPDATE.
SCP_ID = 0x03
SCP_I_PARAMETER = 0x60  # R-MAC and R-ENCRYPTION supported, random card challenge

#: Key diversification data prefix (method 1: SP 800-108 AES-CMAC from card serial).
DIVERSIFICATION_METHOD = bytes.fromhex("0001")


#: The SCP03 derivation constants (``KdfConstant``), the card serial length and the AES key
#: length are defined once, in the key library that derives card keys (``keys/diversify.py``),
#: and are wire constants of this specification too: re-exported here for the card side
#: (the simulator) and the host's card protocol layer.
KdfConstant = _diversify.KdfConstant
SERIAL_LENGTH = _diversify.SERIAL_LENGTH
KEY_LENGTH = _diversify.KEY_LENGTH

#: PIN / PUK formats: ASCII digits, padded to 8 bytes with 0xFF.
PIN_MIN_LENGTH = 6
PIN_MAX_LENGTH = 8
PUK_LENGTH = 8
PIN_BLOCK_LENGTH = 8
PIN_PAD = 0xFF
PIN_MAX_TRIES = 3
PUK_MAX_TRIES = 10

#: Failed issuer authentications (EXTERNAL AUTHENTICATE) a card allows before its issuer
#: channel is blocked for good (section 6.8).  At most 15, so that 63Cx can show the count.
ISSUER_AUTH_MAX_TRIES = 10

#: INTERNAL AUTHENTICATE: challenge length limits and signed message prefix.
CHALLENGE_MIN_LENGTH = 8
CHALLENGE_MAX_LENGTH = 64
CARD_AUTH_DOMAIN = b"PERMIT-CARD-AUTH-v1"

#: GET CHALLENGE: allowed Le values.
GET_CHALLENGE_MAX = 32

#: Largest command data field (Nc) the card accepts, also for a whole chain.
MAX_COMMAND_DATA = 33024
#: Largest response data field the card produces in one response.
MAX_RESPONSE_DATA = 65536

#: Tags used in card data objects.
TAG_CARD_INFO = 0xE0
TAG_SERIAL = 0x5A
TAG_LCS = 0x8A
TAG_APP_VERSION = 0x80
TAG_KVN = 0x81
TAG_FLAGS = 0x82
TAG_ISSUER_AUTH_TRIES = 0x83  # EF.CardInfo, application version 1.1 and later
TAG_PUBLIC_KEY = 0x7F49
TAG_EC_POINT = 0x86
TAG_FCI = 0x6F
TAG_FCP = 0x62
TAG_DF_NAME = 0x84
TAG_FCI_PROPRIETARY = 0xA5
TAG_FILE_SIZE = 0x80
TAG_FILE_DESCRIPTOR = 0x82
TAG_FILE_ID = 0x83
TAG_MAX_SIZE = 0xC0
TAG_READ_AC = 0xC1
TAG_WRITE_AC = 0xC2


class CardFlag(IntEnum):
    """Bits of the flags byte (tag 82) in EF.CardInfo."""

    CARD_KEY_PRESENT = 0x01
    PIN_SET = 0x02
    PUK_SET = 0x04


class AccessCondition(IntEnum):
    """Access-condition codes reported in the FCP (tags C1/C2)."""

    ALWAYS = 0x00
    PIN = 0x10
    PACE = 0x20  # reserved for the PACE profile (ICAO Doc 9303 part 11)
    ISSUER_SM = 0x40
    NEVER = 0xFF


#: vpcd wire protocol (vsmartcard): 2-byte big-endian length, then the body.
#: A body of one byte is a control message.
class VpcdControl(IntEnum):
    POWER_OFF = 0x00
    POWER_ON = 0x01
    RESET = 0x02
    GET_ATR = 0x04


VPCD_DEFAULT_PORT = 0x8C7B  # 35963, Debian's /etc/reader.conf.d/vpcd
