"""The SCP03 key derivation and per-card key diversification (docs/card-application.md, 6.1-6.2).

The host side's one copy of the derivation constants, the KDF and the card static key type:
:mod:`card_service.card.scp03` (the secure channel) imports them from here and re-exports
``StaticKeys`` and ``diversify_card_keys``.  The simulated card (``simulators/``) is the
independent other side and keeps its own implementation, so the interoperability tests check
two implementations of the spec against each other.

::

    K-ENC = KDF(MK, 81, 128, serial || KVN)
    K-MAC = KDF(MK, 82, 128, serial || KVN)
    K-DEK = KDF(MK, 83, 128, serial || KVN)

KDF is NIST SP 800-108 in counter mode with AES-CMAC as the PRF, in the GlobalPlatform SCP03
layout (Amendment D, 6.2.2)::

    KDF(K, c, L, context) = first L bits of CMAC(K, D_1) || CMAC(K, D_2) || ...
    D_i = 00 x 11 || c || 00 || L (2 bytes, bits) || i (1 byte) || context

Unlike the plain SP 800-108 layout the counter sits after the label.  The PRF is a parameter
(:func:`sp800_108_kdf`): :func:`derive_card_keys` uses :meth:`KeyStore.cmac`, so the master key
stays in the store (an HSM computes ``CKM_AES_CMAC``) and the result is the same for every
store; :func:`diversify_card_keys` and :func:`kdf` use a raw key.  KVN is one byte (1-127) and
the serial is ``SERIAL_LENGTH`` (8) bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from .store import KeyStore

__all__ = [
    "CONST_K_DEK",
    "CONST_K_ENC",
    "CONST_K_MAC",
    "KEY_LENGTH",
    "MAX_KVN",
    "MIN_KVN",
    "SERIAL_LENGTH",
    "CardStaticKeys",
    "KdfConstant",
    "StaticKeys",
    "aes_cmac",
    "derive_card_keys",
    "diversify_card_keys",
    "kdf",
    "kdf_input",
    "sp800_108_kdf",
]


class KdfConstant(IntEnum):
    """Derivation constants (byte 12 of the SP 800-108 derivation data).

    Defined here only: ``card_service.card.wire`` re-exports them (with :data:`SERIAL_LENGTH`
    and :data:`KEY_LENGTH`) as wire constants of docs/card-application.md for the card
    protocol layer and the simulator.
    """

    CARD_CRYPTOGRAM = 0x00
    HOST_CRYPTOGRAM = 0x01
    S_ENC = 0x04
    S_MAC = 0x06
    S_RMAC = 0x07
    # static card keys diversified from the issuer master key (proprietary)
    CARD_K_ENC = 0x81
    CARD_K_MAC = 0x82
    CARD_K_DEK = 0x83


CONST_K_ENC = KdfConstant.CARD_K_ENC
CONST_K_MAC = KdfConstant.CARD_K_MAC
CONST_K_DEK = KdfConstant.CARD_K_DEK
#: AES-128 keys (static, session and master keys).
KEY_LENGTH = 16
#: Card serial length (``card_service.card.wire.SERIAL_LENGTH``: keys/ imports no card_service).
SERIAL_LENGTH = 8
MIN_KVN, MAX_KVN = 1, 127
#: The counter is one byte: at most 255 PRF blocks of 128 bits.
_MAX_KDF_BITS = 255 * 128


def aes_cmac(key: bytes, message: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B, RFC 4493), full 16 bytes."""
    mac = CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


def kdf_input(constant: int, length_bits: int, counter: int, context: bytes) -> bytes:
    """The SCP03 KDF data block ``D_i``."""
    return (
        bytes(11)
        + bytes([constant])
        + b"\x00"
        + length_bits.to_bytes(2, "big")
        + bytes([counter])
        + context
    )


def sp800_108_kdf(
    prf: Callable[[bytes], bytes], constant: int, length_bits: int, context: bytes
) -> bytes:
    """SP 800-108 counter-mode KDF with a 128-bit PRF (AES-CMAC), SCP03 layout."""
    if length_bits <= 0 or length_bits % 8 or length_bits > _MAX_KDF_BITS:
        raise ValueError("KDF output length must be a positive multiple of 8 bits")
    out = bytearray()
    counter = 1
    while len(out) * 8 < length_bits:
        out += prf(kdf_input(constant, length_bits, counter, context))
        counter += 1
    return bytes(out[: length_bits // 8])


def kdf(key: bytes, constant: int, bits: int, context: bytes) -> bytes:
    """:func:`sp800_108_kdf` with AES-CMAC under the raw ``key`` (session keys, cryptograms)."""
    return sp800_108_kdf(lambda block: aes_cmac(key, block), constant, bits, context)


@dataclass(frozen=True)
class StaticKeys:
    """A card's static SCP03 key set (AES-128); the repr hides the key bytes."""

    enc: bytes = field(repr=False)
    mac: bytes = field(repr=False)
    dek: bytes = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("enc", "mac", "dek"):
            if len(getattr(self, name)) != KEY_LENGTH:
                raise ValueError(f"static key {name} must be {KEY_LENGTH} bytes")


@dataclass(frozen=True)
class CardStaticKeys(StaticKeys):
    """The static keys of one card with the master key version they were derived under."""

    kvn: int


def _check(serial: bytes, kvn: int) -> bytes:
    """The diversification context ``serial || KVN`` (ValueError: a caller's bug)."""
    if not MIN_KVN <= kvn <= MAX_KVN:
        raise ValueError(f"key version must be {MIN_KVN}-{MAX_KVN}")
    if len(serial) != SERIAL_LENGTH:
        raise ValueError(f"card serial must be {SERIAL_LENGTH} bytes")
    return bytes(serial) + bytes([kvn])


def _diversify(prf: Callable[[bytes], bytes], serial: bytes, kvn: int) -> CardStaticKeys:
    context = _check(serial, kvn)
    bits = KEY_LENGTH * 8
    return CardStaticKeys(
        enc=sp800_108_kdf(prf, KdfConstant.CARD_K_ENC, bits, context),
        mac=sp800_108_kdf(prf, KdfConstant.CARD_K_MAC, bits, context),
        dek=sp800_108_kdf(prf, KdfConstant.CARD_K_DEK, bits, context),
        kvn=kvn,
    )


def diversify_card_keys(master_key: bytes, serial: bytes, kvn: int) -> CardStaticKeys:
    """K-ENC, K-MAC, K-DEK of the card ``serial`` from the raw issuer master key ``kvn``."""
    if len(master_key) != KEY_LENGTH:
        raise ValueError(f"issuer master key must be {KEY_LENGTH} bytes (AES-128)")
    _check(serial, kvn)
    return _diversify(lambda block: aes_cmac(master_key, block), serial, kvn)


def derive_card_keys(store: KeyStore, kvn: int, serial: bytes) -> CardStaticKeys:
    """K-ENC, K-MAC and K-DEK of the card with ``serial`` under the store's master key ``kvn``
    (the PRF runs in the store)."""
    _check(serial, kvn)
    return _diversify(lambda block: store.cmac(kvn, block), serial, kvn)
