"""Parsed card data objects: FCI, FCP, EF.CardInfo, the card public key."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from .errors import ResponseFormatError
from .tlv import find_tlv, parse_tlv, require_tlv
from .wire import (
    ISSUER_AUTH_MAX_TRIES,
    SERIAL_LENGTH,
    TAG_APP_VERSION,
    TAG_CARD_INFO,
    TAG_DF_NAME,
    TAG_EC_POINT,
    TAG_FCI,
    TAG_FCI_PROPRIETARY,
    TAG_FCP,
    TAG_FILE_ID,
    TAG_FILE_SIZE,
    TAG_FLAGS,
    TAG_ISSUER_AUTH_TRIES,
    TAG_KVN,
    TAG_LCS,
    TAG_MAX_SIZE,
    TAG_PUBLIC_KEY,
    TAG_READ_AC,
    TAG_SERIAL,
    TAG_WRITE_AC,
    CardFlag,
    LifeCycle,
)

__all__ = ["ApplicationInfo", "CardInfo", "FileInfo", "parse_public_key"]


def _life_cycle(value: bytes) -> LifeCycle:
    try:
        return LifeCycle(value[0])
    except ValueError:
        raise ResponseFormatError(f"unknown life-cycle state {value[0]:02X}") from None


def _single(objects: bytes, tag: int) -> bytes:
    items = parse_tlv(objects)
    if len(items) != 1 or items[0].tag != tag:
        raise ResponseFormatError(f"expected one data object {tag:X}")
    return items[0].value


@dataclass(frozen=True)
class ApplicationInfo:
    """What SELECT by AID returns (FCI, 5.1)."""

    aid: bytes
    version: tuple[int, int]
    life_cycle: LifeCycle
    serial: bytes

    @classmethod
    def parse(cls, fci: bytes) -> ApplicationInfo:
        body = parse_tlv(_single(fci, TAG_FCI))
        prop = parse_tlv(require_tlv(body, TAG_FCI_PROPRIETARY))
        version = require_tlv(prop, TAG_APP_VERSION, 2)
        return cls(
            aid=require_tlv(body, TAG_DF_NAME),
            version=(version[0], version[1]),
            life_cycle=_life_cycle(require_tlv(prop, TAG_LCS, 1)),
            serial=require_tlv(prop, TAG_SERIAL, SERIAL_LENGTH),
        )


@dataclass(frozen=True)
class FileInfo:
    """An EF's FCP (5.1)."""

    fid: int
    size: int
    max_size: int
    read_ac: int
    write_ac: int
    life_cycle: LifeCycle

    @classmethod
    def parse(cls, fcp: bytes) -> FileInfo:
        body = parse_tlv(_single(fcp, TAG_FCP))
        return cls(
            fid=int.from_bytes(require_tlv(body, TAG_FILE_ID, 2), "big"),
            size=int.from_bytes(require_tlv(body, TAG_FILE_SIZE, 2), "big"),
            max_size=int.from_bytes(require_tlv(body, TAG_MAX_SIZE, 2), "big"),
            read_ac=require_tlv(body, TAG_READ_AC, 1)[0],
            write_ac=require_tlv(body, TAG_WRITE_AC, 1)[0],
            life_cycle=_life_cycle(require_tlv(body, TAG_LCS, 1)),
        )


@dataclass(frozen=True)
class CardInfo:
    """EF.CardInfo (section 2).

    ``issuer_auth_tries``: failed issuer authentications the card still allows (section
    6.8; 0 = issuer channel blocked), ``None`` for an application 1.0 card, which has no
    counter.
    """

    serial: bytes
    life_cycle: LifeCycle
    app_version: tuple[int, int]
    kvn: int
    flags: int
    issuer_auth_tries: int | None = None

    @property
    def issuer_channel_blocked(self) -> bool:
        """The card refuses to open its issuer channel for good (section 6.8)."""
        return self.issuer_auth_tries == 0

    @property
    def card_key_present(self) -> bool:
        return bool(self.flags & CardFlag.CARD_KEY_PRESENT)

    @property
    def pin_set(self) -> bool:
        return bool(self.flags & CardFlag.PIN_SET)

    @property
    def puk_set(self) -> bool:
        return bool(self.flags & CardFlag.PUK_SET)

    @classmethod
    def parse(cls, data: bytes) -> CardInfo:
        body = parse_tlv(_single(data, TAG_CARD_INFO))
        version = require_tlv(body, TAG_APP_VERSION, 2)
        tries: int | None = None
        if find_tlv(body, TAG_ISSUER_AUTH_TRIES) is not None:
            tries = require_tlv(body, TAG_ISSUER_AUTH_TRIES, 1)[0]
            if tries > ISSUER_AUTH_MAX_TRIES:
                raise ResponseFormatError(
                    f"card reports {tries} issuer authentication tries, "
                    f"more than the {ISSUER_AUTH_MAX_TRIES} the application allows"
                )
        return cls(
            serial=require_tlv(body, TAG_SERIAL, SERIAL_LENGTH),
            life_cycle=_life_cycle(require_tlv(body, TAG_LCS, 1)),
            app_version=(version[0], version[1]),
            kvn=require_tlv(body, TAG_KVN, 1)[0],
            flags=require_tlv(body, TAG_FLAGS, 1)[0],
            issuer_auth_tries=tries,
        )


def parse_public_key(data: bytes) -> ec.EllipticCurvePublicKey:
    """``7F49 { 86 <04||X||Y> }`` to a P-256 public key."""
    point = require_tlv(parse_tlv(_single(data, TAG_PUBLIC_KEY)), TAG_EC_POINT, 65)
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ResponseFormatError("card public key is not a valid P-256 point") from None
