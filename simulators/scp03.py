"""Card side of the issuer secure channel (SCP03 model, docs/card-application.md section 6).

Written from the specification independently of the host side, so that each side
checks the other.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from card_service.card.wire import KEY_LENGTH, SW, KdfConstant

from .apdu import CommandApdu
from .status import CardStatus

__all__ = [
    "CHALLENGE_LENGTH",
    "MAC_LENGTH",
    "Handshake",
    "HostCryptogramMismatch",
    "SecureChannel",
    "SessionKeys",
    "StaticKeys",
    "aes_cmac",
    "diversify",
    "external_authenticate",
    "kdf",
    "open_handshake",
]

BLOCK = 16
MAC_LENGTH = 8
CHALLENGE_LENGTH = 8


def aes_cmac(key: bytes, message: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


def kdf(key: bytes, constant: int, bits: int, context: bytes) -> bytes:
    """NIST SP 800-108 counter mode with AES-CMAC, GlobalPlatform SCP03 layout.

    ``D_i = 00 x 11 || constant || 00 || L (2 bytes) || i (1 byte) || context``.
    """
    out = b""
    i = 1
    while len(out) * 8 < bits:
        d = bytes(11) + bytes((constant, 0)) + bits.to_bytes(2, "big") + bytes((i,)) + context
        out += aes_cmac(key, d)
        i += 1
    return out[: bits // 8]


def _ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - one block, for an ICV
    return enc.update(block) + enc.finalize()


def _cbc_encrypt(key: bytes, icv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CBC(icv)).encryptor()
    return enc.update(data) + enc.finalize()


def _cbc_decrypt(key: bytes, icv: bytes, data: bytes) -> bytes:
    dec = Cipher(algorithms.AES(key), modes.CBC(icv)).decryptor()
    return dec.update(data) + dec.finalize()


def pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2 to a multiple of 16."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % BLOCK)


def unpad(data: bytes) -> bytes | None:
    """Undo :func:`pad`; ``None`` if the padding is wrong."""
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= BLOCK:
        return None
    return stripped[:-1]


class HostCryptogramMismatch(Exception):
    """EXTERNAL AUTHENTICATE carried a wrong host cryptogram: the host is not authenticated.

    The applet answers it with the issuer authentication counter (``63Cx``, section 6.8).
    """


@dataclass(frozen=True)
class StaticKeys:
    """The card's static key set (section 6.1)."""

    enc: bytes = field(repr=False)
    mac: bytes = field(repr=False)
    dek: bytes = field(repr=False)


def diversify(master_key: bytes, serial: bytes, kvn: int) -> StaticKeys:
    """K-ENC, K-MAC, K-DEK of a card from the issuer master key (section 6.1)."""
    if len(master_key) != KEY_LENGTH:
        raise ValueError("issuer master key must be 16 bytes (AES-128)")
    context = serial + bytes((kvn,))
    bits = KEY_LENGTH * 8
    return StaticKeys(
        enc=kdf(master_key, KdfConstant.CARD_K_ENC, bits, context),
        mac=kdf(master_key, KdfConstant.CARD_K_MAC, bits, context),
        dek=kdf(master_key, KdfConstant.CARD_K_DEK, bits, context),
    )


@dataclass(frozen=True)
class SessionKeys:
    enc: bytes = field(repr=False)
    mac: bytes = field(repr=False)
    rmac: bytes = field(repr=False)


@dataclass(frozen=True)
class Handshake:
    """State between INITIALIZE UPDATE and EXTERNAL AUTHENTICATE."""

    keys: SessionKeys
    host_cryptogram: bytes = field(repr=False)
    card_cryptogram: bytes = field(repr=False)


def open_handshake(static: StaticKeys, host_challenge: bytes, card_challenge: bytes) -> Handshake:
    """Session keys and both cryptograms for one INITIALIZE UPDATE (section 6.2)."""
    context = host_challenge + card_challenge
    bits = KEY_LENGTH * 8
    keys = SessionKeys(
        enc=kdf(static.enc, KdfConstant.S_ENC, bits, context),
        mac=kdf(static.mac, KdfConstant.S_MAC, bits, context),
        rmac=kdf(static.mac, KdfConstant.S_RMAC, bits, context),
    )
    return Handshake(
        keys=keys,
        card_cryptogram=kdf(keys.mac, KdfConstant.CARD_CRYPTOGRAM, 64, context),
        host_cryptogram=kdf(keys.mac, KdfConstant.HOST_CRYPTOGRAM, 64, context),
    )


def external_authenticate(hs: Handshake, apdu: CommandApdu) -> SecureChannel:
    """Check EXTERNAL AUTHENTICATE (length and P1/P2 already checked) and open the channel.

    Raises :class:`HostCryptogramMismatch` for a wrong host cryptogram, :class:`CardStatus`
    ``6982`` for a wrong MAC (the cryptogram is checked first).  The caller has already
    consumed an issuer authentication try (section 6.8).
    """
    cryptogram, mac = apdu.data[:MAC_LENGTH], apdu.data[MAC_LENGTH:]
    if not hmac.compare_digest(cryptogram, hs.host_cryptogram):
        raise HostCryptogramMismatch
    full = aes_cmac(hs.keys.mac, bytes(BLOCK) + apdu.header + apdu.lc_field + cryptogram)
    if not hmac.compare_digest(full[:MAC_LENGTH], mac):
        raise CardStatus(SW.SECURITY_STATUS_NOT_SATISFIED)
    return SecureChannel(hs.keys, mcv=full, counter=1)


class SecureChannel:
    """An open issuer channel: session keys, MAC chaining value and encryption counter."""

    def __init__(self, keys: SessionKeys, mcv: bytes, counter: int) -> None:
        self._keys = keys
        self._mcv = mcv
        self.counter = counter

    def __repr__(self) -> str:
        return f"SecureChannel(counter={self.counter})"

    def unwrap(self, apdu: CommandApdu) -> bytes:
        """Verify and decrypt a wrapped command; return the plain data.

        Raises :class:`CardStatus` with ``6988`` (bad structure or padding) or ``6982``
        (bad C-MAC); the caller closes the channel on either.
        """
        data = apdu.data
        if len(data) < MAC_LENGTH or (len(data) - MAC_LENGTH) % BLOCK:
            raise CardStatus(SW.SM_DATA_OBJECTS_INCORRECT)
        encrypted, mac = data[:-MAC_LENGTH], data[-MAC_LENGTH:]
        full = aes_cmac(self._keys.mac, self._mcv + apdu.header + apdu.lc_field + encrypted)
        if not hmac.compare_digest(full[:MAC_LENGTH], mac):
            raise CardStatus(SW.SECURITY_STATUS_NOT_SATISFIED)
        self._mcv = full
        if not encrypted:
            return b""
        icv = _ecb(self._keys.enc, self.counter.to_bytes(BLOCK, "big"))
        plain = unpad(_cbc_decrypt(self._keys.enc, icv, encrypted))
        if plain is None:
            raise CardStatus(SW.SM_DATA_OBJECTS_INCORRECT)
        return plain

    def wrap_response(self, data: bytes, sw: int) -> bytes:
        """Response data field for ``sw`` (section 6.4): encrypted data || R-MAC, or nothing."""
        if not (sw == SW.OK or sw >> 8 in (0x62, 0x63)):
            return b""
        encrypted = b""
        if data:
            icv = _ecb(self._keys.enc, b"\x80" + self.counter.to_bytes(BLOCK - 1, "big"))
            encrypted = _cbc_encrypt(self._keys.enc, icv, pad(data))
        rmac = aes_cmac(self._keys.rmac, self._mcv + encrypted + sw.to_bytes(2, "big"))
        return encrypted + rmac[:MAC_LENGTH]

    def advance(self) -> None:
        """Count one wrapped command (whatever its outcome)."""
        self.counter += 1
