"""COSE_Sign1 with ES256 (RFC 9052 / RFC 9053) and EC2 COSE_Key, as ISO/IEC 18013-5 uses them.

* protected header: ``{1: -7}`` (alg ES256), deterministic encoding, carried as a bstr:
  exactly ``h'a10126'``, nothing else (no ``crit``, no other label);
* unprotected header: ``{33: x5chain}`` and nothing else: one DER certificate as a bstr, or
  an array of them (signer first) when the chain has more than one;
* Sig_structure: ``["Signature1", protected, h'', payload]``;
* signature: raw ``r || s``, 64 bytes.

Signing takes any ``cryptography`` ``ec.EllipticCurvePrivateKey`` (a file key or
``keys.signer.StoreEcPrivateKey`` backed by an HSM): we never need the key bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from permit_errors import ErrorKind, PermitError

from .cbor_types import NO_TAGS, TAG_SIGN1, CborError, bstr_header, dumps, loads
from .errors import SigningError

__all__ = [
    "ALG_ES256",
    "HDR_ALG",
    "HDR_CRIT",
    "HDR_X5CHAIN",
    "CoseError",
    "Sign1",
    "check_protected",
    "cose_key",
    "der_to_raw",
    "parse_sign1",
    "public_key_from_cose_key",
    "raw_to_der",
    "sig_structure",
    "sign1",
    "x5chain_value",
]

ALG_ES256 = -7
HDR_ALG = 1
HDR_X5CHAIN = 33
PROTECTED_ES256 = dumps({HDR_ALG: ALG_ES256})
_SIG_PREFIX = b"\x84" + dumps("Signature1")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
#: At most this many certificates in x5chain (signer and an optional intermediate/root).
MAX_CHAIN = 4


class CoseError(PermitError, ValueError):
    """A COSE structure is not what RFC 9052 and this profile require.

    ``code`` names the broken rule: ``malformed`` (shape), ``alg`` (alg missing, not the
    integer -7), ``crit`` (a critical header: this profile understands none beyond alg),
    ``header_unknown`` (a label the profile does not define, in either bucket),
    ``header_encoding`` (the protected header is not the deterministic ``h'a10126'``),
    ``x5chain`` (not one certificate or an array of 1-4) and ``tag`` (COSE_Sign1 tagged where
    the format has it untagged, or the other way round).
    """

    code = "cose_invalid"
    kind = ErrorKind.INTEGRITY

    def __init__(self, message: str, code: str = "malformed") -> None:
        super().__init__(message)
        self.code = code


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


HDR_CRIT = 2
#: The only labels of each header bucket (docs/record-format.md, "COSE_Sign1").
PROTECTED_LABELS = frozenset({HDR_ALG})
UNPROTECTED_LABELS = frozenset({HDR_X5CHAIN})


def check_protected(protected: Any) -> None:
    """The protected header is exactly ``h'a10126'`` = ``{1: -7}``; else a specific error.

    RFC 9052 section 3.1: a recipient must reject a message whose ``crit`` names a header it
    does not understand; this profile understands only ``alg``, which is never critical, so
    any ``crit`` is refused, as is every label the format does not define.
    """
    if protected == PROTECTED_ES256:
        return
    if type(protected) is not bytes:
        raise CoseError("protected header must be a byte string")
    try:
        header = loads(protected, NO_TAGS)
    except CborError as exc:
        raise CoseError(f"protected header: {exc}", "header_encoding") from None
    if type(header) is not dict:
        raise CoseError("protected header must hold a map", "header_encoding")
    if HDR_CRIT in header:
        raise CoseError("protected header has a critical header (crit)", "crit")
    unknown = [k for k in header if k not in PROTECTED_LABELS]
    if unknown:
        raise CoseError("protected header has labels the format does not define", "header_unknown")
    alg = header.get(HDR_ALG)
    if type(alg) is not int or alg != ALG_ES256:
        raise CoseError("protected header alg must be the integer -7 (ES256)", "alg")
    raise CoseError("protected header is not the deterministic h'a10126'", "header_encoding")


def _x5chain(unprotected: Any) -> tuple[bytes, ...]:
    # a map (a frozen one inside a tag: cbor2 decodes tag content immutably)
    if not isinstance(unprotected, Mapping):
        raise CoseError("unprotected header must be a map")
    if HDR_CRIT in unprotected:
        raise CoseError("crit in the unprotected header", "crit")
    if HDR_ALG in unprotected:
        raise CoseError("alg in the unprotected header", "header_unknown")
    if len(unprotected) != 1 or HDR_X5CHAIN not in unprotected:
        if any(k != HDR_X5CHAIN for k in unprotected):
            raise CoseError(
                "unprotected header has labels the format does not define", "header_unknown"
            )
        raise CoseError("unprotected header must carry x5chain (33)", "x5chain")
    chain = x5chain_value(unprotected[HDR_X5CHAIN])
    if chain is None:
        raise CoseError("x5chain (33) must be a certificate or an array of 1-4 of them", "x5chain")
    return chain


def x5chain_value(chain: Any) -> tuple[bytes, ...] | None:
    """The certificates of an x5chain (33) value: one non-empty bstr, or an array of 1 to
    :data:`MAX_CHAIN` of them (RFC 9360); ``None`` for anything else."""
    if type(chain) is bytes and chain:
        return (chain,)
    if (
        type(chain) in (list, tuple)
        and 1 <= len(chain) <= MAX_CHAIN
        and all(type(c) is bytes and c for c in chain)
    ):
        return tuple(chain)
    return None


def parse_sign1(value: Any, *, tagged: bool = False) -> Sign1:
    """Check the shape of a decoded COSE_Sign1 and return its parts.

    ``tagged``: the item must be ``18([...])`` (endorsements); otherwise it must be the bare
    array (issuerAuth, untagged as in 18013-5).
    """
    if type(value) is cbor2.CBORTag:
        if not tagged or value.tag != TAG_SIGN1:
            raise CoseError("COSE_Sign1 carries a tag it must not have", "tag")
        value = value.value
    elif tagged:
        raise CoseError("COSE_Sign1 must be tagged 18 here", "tag")
    if type(value) is not list or len(value) != 4:
        raise CoseError("COSE_Sign1 must be an array of 4")
    protected, unprotected, payload, signature = value
    check_protected(protected)
    ders = _x5chain(unprotected)
    if type(payload) is not bytes:
        raise CoseError("payload must be a byte string (not detached)")
    if type(signature) is not bytes or len(signature) != 64:
        raise CoseError("ES256 signature must be 64 bytes")
    return Sign1(protected, ders, payload, signature)


def cose_key(public_key: ec.EllipticCurvePublicKey) -> dict[int, Any]:
    """EC2 COSE_Key of a P-256 public key: ``{1: 2, -1: 1, -2: x, -3: y}``."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise SigningError("the card key must be a P-256 key")
    numbers = public_key.public_numbers()
    return {1: 2, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}


_COSE_KEY_LABELS = (1, -1, -2, -3)


def public_key_from_cose_key(value: Any) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of an EC2 COSE_Key; :class:`CoseError` if it is not one."""
    # exactly the four labels, in deterministic order; integer values of the right type
    if (
        type(value) is not dict
        or tuple(value) != _COSE_KEY_LABELS
        or type(value[1]) is not int
        or value[1] != 2
        or type(value[-1]) is not int
        or value[-1] != 1
    ):
        raise CoseError("deviceKey must be an EC2 P-256 COSE_Key {1: 2, -1: 1, -2: x, -3: y}")
    x, y = value.get(-2), value.get(-3)
    if not isinstance(x, bytes) or not isinstance(y, bytes) or len(x) != 32 or len(y) != 32:
        raise CoseError("deviceKey coordinates must be 32-byte strings")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    except ValueError:
        raise CoseError("deviceKey is not a point on P-256") from None
