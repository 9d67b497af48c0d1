"""Host-side PIN/PUK validation and the 8-byte FF-padded block (spec section 7).

Validation errors never quote the PIN: it could be a real one mistyped.
"""

from __future__ import annotations

from .wire import PIN_BLOCK_LENGTH, PIN_MAX_LENGTH, PIN_MIN_LENGTH, PIN_PAD, PUK_LENGTH

__all__ = ["pin_block", "puk_block"]


def _block(secret: str, lengths: range, what: str) -> bytes:
    if not isinstance(secret, str):
        raise TypeError(f"{what} must be a str of digits")
    if not (secret.isascii() and secret.isdigit()) or len(secret) not in lengths:
        if lengths.start == lengths.stop - 1:
            rule = f"exactly {lengths.start}"
        else:
            rule = f"{lengths.start}-{lengths.stop - 1}"
        raise ValueError(f"{what} must be {rule} ASCII digits")
    raw = secret.encode("ascii")
    return raw + bytes((PIN_PAD,)) * (PIN_BLOCK_LENGTH - len(raw))


def pin_block(pin: str) -> bytes:
    """The PIN block of ``pin`` (6-8 digits)."""
    return _block(pin, range(PIN_MIN_LENGTH, PIN_MAX_LENGTH + 1), "PIN")


def puk_block(puk: str) -> bytes:
    """The PUK block of ``puk`` (exactly 8 digits)."""
    return _block(puk, range(PUK_LENGTH, PUK_LENGTH + 1), "PUK")
