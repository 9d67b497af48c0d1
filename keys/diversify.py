"""Per-card key diversification (docs/card-application.md, section 6.1).

::

    K-ENC = KDF(MK, 81, 128, serial || KVN)
    K-MAC = KDF(MK, 82, 128, serial || KVN)
    K-DEK = KDF(MK, 83, 128, serial || KVN)

KDF is NIST SP 800-108 in counter mode with AES-CMAC as the PRF, in the GlobalPlatform SCP03
layout (Amendment D, 6.2.2)::

    KDF(K, c, L, context) = first L bits of CMAC(K, D_1) || CMAC(K, D_2) || ...
    D_i = 00 x 11 || c || 00 || L (2 bytes, bits) || i (1 byte) || context

The PRF is :meth:`KeyStore.cmac`, so the master key stays in the store (an HSM computes
``CKM_AES_CMAC``) and the result is the same for every store.  KVN is one byte (1-127) and
the serial is ``wire.SERIAL_LENGTH`` (8) bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .store import KeyStore

__all__ = [
    "CONST_K_DEK",
    "CONST_K_ENC",
    "CONST_K_MAC",
    "SERIAL_LENGTH",
    "CardStaticKeys",
    "derive_card_keys",
    "kdf_input",
    "sp800_108_kdf",
]

CONST_K_ENC = 0x81
CONST_K_MAC = 0x82
CONST_K_DEK = 0x83
SERIAL_LENGTH = 8  # wire.SERIAL_LENGTH (not imported: keys/ sits beside card_service/card/)
MIN_KVN, MAX_KVN = 1, 127


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
    if length_bits <= 0 or length_bits % 8 or length_bits > 0xFFFF:
        raise ValueError("length must be a positive multiple of 8 bits")
    out = b""
    counter = 1
    while len(out) * 8 < length_bits:
        out += prf(kdf_input(constant, length_bits, counter, context))
        counter += 1
    return out[: length_bits // 8]


@dataclass(frozen=True)
class CardStaticKeys:
    """The static SCP03 key set of one card; ``repr`` never shows key bytes."""

    enc: bytes = field(repr=False)
    mac: bytes = field(repr=False)
    dek: bytes = field(repr=False)
    kvn: int


def derive_card_keys(store: KeyStore, kvn: int, serial: bytes) -> CardStaticKeys:
    """K-ENC, K-MAC and K-DEK of the card with ``serial`` under master key version ``kvn``."""
    if not MIN_KVN <= kvn <= MAX_KVN:
        raise ValueError(f"KVN must be {MIN_KVN}-{MAX_KVN}")
    if len(serial) != SERIAL_LENGTH:
        raise ValueError(f"card serial must be {SERIAL_LENGTH} bytes")
    context = serial + bytes([kvn])

    def prf(data: bytes) -> bytes:
        return store.cmac(kvn, data)

    return CardStaticKeys(
        enc=sp800_108_kdf(prf, CONST_K_ENC, 128, context),
        mac=sp800_108_kdf(prf, CONST_K_MAC, 128, context),
        dek=sp800_108_kdf(prf, CONST_K_DEK, 128, context),
        kvn=kvn,
    )
