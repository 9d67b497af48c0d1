"""COSE_Sign1 with ES256 (RFC 9052 / RFC 9053) and EC2 COSE_Key, as ISO/IEC 18013-5 uses them.

* protected header: ``{1: -7}`` (alg ES256), deterministic encoding, carried as a bstr;
* unprotected header: ``{33: x5chain}``: one DER certificate as a bstr, or an array of them
  (signer first) when the chain has more than one;
* Sig_structure: ``["Signature1", protected, h'', payload]``;
* signature: raw ``r || s``, 64 bytes.

Signing takes any ``cryptography`` ``ec.EllipticCurvePrivateKey`` (a file key or
``keys.signer.StoreEcPrivateKey`` backed by an HSM): we never need the key bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .cbor_types import CborError, bstr_header, dumps, loads
from .errors import SigningError

__all__ = [
    "ALG_ES256",
    "HDR_ALG",
    "HDR_X5CHAIN",
    "CoseError",
    "Sign1",
    "cose_key",
    "der_to_raw",
    "parse_sign1",
    "public_key_from_cose_key",
    "raw_to_der",
    "sig_structure",
    "sign1",
]

ALG_ES256 = -7
HDR_ALG = 1
HDR_X5CHAIN = 33
PROTECTED_ES256 = dumps({HDR_ALG: ALG_ES256})
_SIG_PREFIX = b"\x84" + dumps("Signature1")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
#: At most this many certificates in x5chain (signer and an optional intermediate/root).
MAX_CHAIN = 4


class CoseError(ValueError):
    """A COSE structure is not what RFC 9052 and this profile require."""


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The ToBeSigned bytes of COSE_Sign1 with empty external AAD."""
    return (
        _SIG_PREFIX
        + bstr_header(len(protected))
        + protected
        + b"\x40"
        + bstr_header(len(payload))
        + payload
    )


def _der_integer(value: bytes) -> bytes:
    value = value.lstrip(b"\x00") or b"\x00"
    if value[0] & 0x80:
        value = b"\x00" + value
    return b"\x02" + bytes([len(value)]) + value


def raw_to_der(signature: bytes) -> bytes:
    """``r || s`` (64 bytes) to the DER ``Ecdsa-Sig-Value`` that ``cryptography`` verifies."""
    body = _der_integer(signature[:32]) + _der_integer(signature[32:])
    return b"\x30" + bytes([len(body)]) + body


def der_to_raw(signature: bytes) -> bytes:
    r, s = decode_dss_signature(signature)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign1(
    payload: bytes, key: ec.EllipticCurvePrivateKey, chain: Sequence[x509.Certificate]
) -> list[Any]:
    """A COSE_Sign1 array ``[protected, {33: x5chain}, payload, signature]``."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise SigningError("ES256 needs a P-256 signing key")
    if not chain:
        raise SigningError("the signer certificate chain is empty")
    certificate_key = chain[0].public_key()
    if not isinstance(certificate_key, ec.EllipticCurvePublicKey) or certificate_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    ) != key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    ):
        raise SigningError("the first certificate of the chain is not the signing key's")
    ders = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    x5chain: bytes | list[bytes] = ders[0] if len(ders) == 1 else ders
    signature = der_to_raw(key.sign(sig_structure(PROTECTED_ES256, payload), _ECDSA_SHA256))
    return [PROTECTED_ES256, {HDR_X5CHAIN: x5chain}, payload, signature]


class Sign1(NamedTuple):
    """A parsed (not yet verified) COSE_Sign1."""

    protected: bytes
    x5chain: tuple[bytes, ...]
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected, self.payload)

    def verify(self, public_key: ec.EllipticCurvePublicKey) -> bool:
        """Whether the signature verifies with ``public_key`` (never raises on bad data)."""
        try:
            public_key.verify(raw_to_der(self.signature), self.to_be_signed(), _ECDSA_SHA256)
        except Exception:
            return False
        return True


_PROTECTED_CACHE: dict[bytes, bool] = {PROTECTED_ES256: True}


def _protected_ok(protected: bytes) -> bool:
    known = _PROTECTED_CACHE.get(protected)
    if known is not None:
        return known
    try:
        header = loads(protected)
    except CborError:
        return False
    return (
        isinstance(header, dict)
        and header.get(HDR_ALG) == ALG_ES256
        and all(isinstance(k, int) for k in header)
    )


def parse_sign1(value: Any) -> Sign1:
    """Check the shape of a decoded COSE_Sign1 (untagged or tag 18) and return its parts."""
    if hasattr(value, "tag") and getattr(value, "tag", None) == 18:
        value = value.value
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise CoseError("COSE_Sign1 must be an array of 4")
    protected, unprotected, payload, signature = value
    if not isinstance(protected, bytes) or not _protected_ok(protected):
        raise CoseError("protected header must name alg ES256")
    if not isinstance(unprotected, Mapping) or HDR_ALG in unprotected:
        raise CoseError("unprotected header must be a map without alg")
    if not isinstance(payload, bytes):
        raise CoseError("payload must be a byte string (not detached)")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise CoseError("ES256 signature must be 64 bytes")
    chain = unprotected.get(HDR_X5CHAIN)
    if isinstance(chain, bytes):
        ders: tuple[bytes, ...] = (chain,)
    elif (
        isinstance(chain, list | tuple)
        and 1 <= len(chain) <= MAX_CHAIN
        and all(isinstance(c, bytes) for c in chain)
    ):
        ders = tuple(chain)
    else:
        raise CoseError("x5chain (33) must be a certificate or an array of them")
    return Sign1(protected, ders, payload, signature)


def cose_key(public_key: ec.EllipticCurvePublicKey) -> dict[int, Any]:
    """EC2 COSE_Key of a P-256 public key: ``{1: 2, -1: 1, -2: x, -3: y}``."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise SigningError("the card key must be a P-256 key")
    numbers = public_key.public_numbers()
    return {1: 2, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}


def public_key_from_cose_key(value: Any) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of an EC2 COSE_Key; :class:`CoseError` if it is not one."""
    if not isinstance(value, dict) or value.get(1) != 2 or value.get(-1) != 1:
        raise CoseError("deviceKey must be an EC2 P-256 COSE_Key")
    x, y = value.get(-2), value.get(-3)
    if not isinstance(x, bytes) or not isinstance(y, bytes) or len(x) != 32 or len(y) != 32:
        raise CoseError("deviceKey coordinates must be 32-byte strings")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    except ValueError:
        raise CoseError("deviceKey is not a point on P-256") from None
