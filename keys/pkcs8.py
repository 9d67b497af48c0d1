"""Bounds on the encryption parameters of a PKCS#8 key file, checked before decryption.

An ``EncryptedPrivateKeyInfo`` (RFC 5958) names its own key derivation: a damaged or hostile
file can ask for 2^31 PBKDF2 iterations (hours of CPU before the passphrase is even tried),
a KDF or cipher we never write, or absurd lengths.  :func:`checked_pkcs8_der` parses the
structure with ``asn1crypto`` and accepts only what the file store writes (PBES2 with PBKDF2
and AES-CBC, RFC 8018) within the bounds below; anything else is a :class:`Pkcs8Error`
(the file store reports it as ``CorruptKeyFile``).  It returns the exact DER bytes it checked,
which are then the bytes decrypted: the parser that bounds and the one that derives never
see different structures.
"""

from __future__ import annotations

import re
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import pem

from permit_errors import ErrorKind, PermitError

__all__ = [
    "MAX_KEY_FILE",
    "PBKDF2_ITERATIONS",
    "Pkcs8Error",
    "checked_pkcs8_der",
]

#: Largest key file read (a P-384 key in encrypted PEM is about 500 bytes).
MAX_KEY_FILE = 16 * 1024
#: PBKDF2 iteration counts accepted: cryptography's ``BestAvailableEncryption`` writes 2048;
#: 2^22 (a few seconds) leaves room for stronger settings and stops a denial of service.
PBKDF2_ITERATIONS = (1_000, 2**22)
_SALT_LENGTH = (8, 64)
_PRFS = frozenset({"sha256", "sha384", "sha512"})
_CIPHERS = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}
_IV_LENGTH = 16
_PEM_LABEL = "ENCRYPTED PRIVATE KEY"
_ONE_BLOCK = re.compile(
    rb"\A\s*-----BEGIN ENCRYPTED PRIVATE KEY-----\r?\n"
    rb"[A-Za-z0-9+/=\r\n]+"
    rb"-----END ENCRYPTED PRIVATE KEY-----\s*\Z"
)


class Pkcs8Error(PermitError, ValueError):
    """The key file is not an encrypted PKCS#8 key within bounds (message: what is wrong)."""

    code = "pkcs8_invalid"
    kind = ErrorKind.INTEGRITY


def _pbkdf2(params: Any) -> int:
    """The key length PBKDF2 must produce (0: unspecified), after checking its bounds."""
    salt = params["salt"]
    if salt.name != "specified":
        raise Pkcs8Error("PBKDF2 salt is not a byte string")
    if not _SALT_LENGTH[0] <= len(salt.chosen.native) <= _SALT_LENGTH[1]:
        raise Pkcs8Error("PBKDF2 salt length out of bounds")
    iterations = params["iteration_count"].native
    if not PBKDF2_ITERATIONS[0] <= iterations <= PBKDF2_ITERATIONS[1]:
        raise Pkcs8Error(
            f"PBKDF2 iteration count out of bounds ({PBKDF2_ITERATIONS[0]}..{PBKDF2_ITERATIONS[1]})"
        )
    prf = params["prf"]["algorithm"].native
    if prf not in _PRFS:
        raise Pkcs8Error("PBKDF2 pseudo-random function not accepted")
    if params["prf"]["parameters"].native is not None:
        raise Pkcs8Error("PBKDF2 pseudo-random function takes no parameters")
    key_length = params["key_length"].native
    return 0 if key_length is None else int(key_length)


def _check(info: Any) -> None:
    algorithm = info["encryption_algorithm"]
    if algorithm["algorithm"].native != "pbes2":
        raise Pkcs8Error("encryption scheme is not PBES2")
    params = algorithm["parameters"]
    kdf = params["key_derivation_func"]
    if kdf["algorithm"].native != "pbkdf2":
        raise Pkcs8Error("key derivation function is not PBKDF2")
    key_length = _pbkdf2(kdf["parameters"])
    scheme = params["encryption_scheme"]
    cipher = scheme["algorithm"].native
    if cipher not in _CIPHERS:
        raise Pkcs8Error("cipher is not AES-CBC")
    if key_length not in (0, _CIPHERS[cipher]):
        raise Pkcs8Error("PBKDF2 key length does not match the cipher")
    iv = scheme["parameters"].native
    if not isinstance(iv, bytes) or len(iv) != _IV_LENGTH:
        raise Pkcs8Error("cipher IV is not 16 bytes")
    encrypted = info["encrypted_data"].native
    if not isinstance(encrypted, bytes) or not 0 < len(encrypted) <= MAX_KEY_FILE:
        raise Pkcs8Error("encrypted key length out of bounds")
    if len(encrypted) % _IV_LENGTH:
        raise Pkcs8Error("encrypted key is not a whole number of AES blocks")


def checked_pkcs8_der(data: bytes) -> bytes:
    """The DER of the single ``ENCRYPTED PRIVATE KEY`` PEM block in ``data``, its PBES2
    parameters checked; :class:`Pkcs8Error` (one line, no key bytes) otherwise."""
    if len(data) > MAX_KEY_FILE:
        raise Pkcs8Error("key file too large")
    if _ONE_BLOCK.match(data) is None:
        raise Pkcs8Error("not one encrypted PKCS#8 PEM block")
    try:
        label, headers, der = pem.unarmor(data)
        if label != _PEM_LABEL or headers:
            raise Pkcs8Error("not an encrypted PKCS#8 PEM block")
        info = asn1_keys.EncryptedPrivateKeyInfo.load(der, strict=True)
        _check(info)
    except Pkcs8Error:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        # asn1crypto's parse errors (ValueError, TypeError) and fields of an unexpected shape
        raise Pkcs8Error("malformed EncryptedPrivateKeyInfo") from None
    return bytes(der)
