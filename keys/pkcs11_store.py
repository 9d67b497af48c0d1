"""Keys inside an HSM through PKCS#11 (python-pkcs11); the only module importing ``pkcs11``.

Objects are found by ``CKA_LABEL`` = key id (``ds-0001``, ``root-01``, ``mk-001``) and
``CKA_ID`` = the UTF-8 key id.  Private and secret keys are created with ``CKA_TOKEN``,
``CKA_PRIVATE``, ``CKA_SENSITIVE`` and ``CKA_EXTRACTABLE = false``: they never leave the token.

* ECDSA: ``CKM_ECDSA`` over a digest computed on the host (SoftHSM2 and many HSMs lack
  ``CKM_ECDSA_SHA256``); the raw ``r || s`` result is DER-encoded here.
* Master keys: ``CKK_AES`` 128-bit keys with ``CKA_SIGN`` for ``CKM_AES_CMAC``.

PKCS#11 errors are mapped to :mod:`keys.errors` types; the PIN never appears in any message.
"""

from __future__ import annotations

import logging
from typing import Any

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from .errors import (
    HsmError,
    KeyStoreError,
    TokenLocked,
    TokenNotFound,
    UnknownKey,
    UnsupportedAlgorithm,
    WrongPin,
)
from .store import MASTER_KEY_LENGTH, Algorithm, KeyHandle, SigningPublicKey, master_key_id

__all__ = ["Pkcs11KeyStore"]

log = logging.getLogger(__name__)

_CURVES = {
    Algorithm.ECDSA_P256: "secp256r1",
    Algorithm.ECDSA_P384: "secp384r1",
    Algorithm.ED25519: "1.3.101.112",  # id-Ed25519 as CKA_EC_PARAMS (PKCS#11 3.0)
}


def _hsm_error(what: str, exc: Exception) -> KeyStoreError:
    """A typed, secret-free error for a PKCS#11 exception (only the class name is kept)."""
    if isinstance(exc, p11.PinIncorrect | p11.PinInvalid | p11.PinLenRange):
        return WrongPin("the PKCS#11 token rejected the PIN (PERMIT_PKCS11_PIN)")
    if isinstance(exc, p11.PinLocked):
        return TokenLocked("the PKCS#11 token's user PIN is locked")
    if isinstance(exc, p11.NoSuchToken | p11.TokenNotPresent | p11.TokenNotRecognised):
        return TokenNotFound(f"PKCS#11 token not found ({what})")
    if isinstance(exc, p11.NoSuchKey):
        return UnknownKey(f"no such key on the PKCS#11 token ({what})")
    return HsmError(f"PKCS#11 error while {what}: {type(exc).__name__}")


class Pkcs11KeyStore:
    """Keys generated and used inside a PKCS#11 token."""

    kind = "pkcs11"

    def __init__(self, module: str, token_label: str, pin: str) -> None:
        self.module = module
        self.token_label = token_label
        self._pin = pin
        self._session: Any = None

    def __repr__(self) -> str:
        return f"Pkcs11KeyStore(module={self.module!r}, token={self.token_label!r})"

    # -- session --------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._session is not None:
            return self._session
        try:
            lib = pkcs11.lib(self.module)
        except p11.PKCS11Error:
            raise TokenNotFound(f"cannot load the PKCS#11 module {self.module}") from None
        try:
            try:
                token = lib.get_token(token_label=self.token_label)
            except p11.NoSuchToken:
                # The module was initialised before the token existed: rescan once.
                lib.reinitialize()
                token = lib.get_token(token_label=self.token_label)
            try:
                self._session = token.open(user_pin=self._pin, rw=True)
            except p11.UserAlreadyLoggedIn:
                # PKCS#11 login is per application: another store object in this process
                # holds a logged-in session, and new sessions share its login state.
                self._session = token.open(rw=True)
        except p11.NoSuchToken:
            raise TokenNotFound(
                f"PKCS#11 token {self.token_label!r} not found in {self.module}"
            ) from None
        except p11.PKCS11Error as exc:
            raise _hsm_error(f"opening token {self.token_label!r}", exc) from None
        log.debug("opened PKCS#11 token %r", self.token_label)
        return self._session

    def check(self) -> None:
        self._open()

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            except p11.PKCS11Error:  # pragma: no cover - nothing useful to do
                log.debug("closing the PKCS#11 session failed")
            self._session = None

    def _find(self, key_id: str, object_class: Any) -> Any:
        session = self._open()
        try:
            return session.get_key(object_class=object_class, label=key_id)
        except p11.NoSuchKey:
            raise UnknownKey(f"no key {key_id} on PKCS#11 token {self.token_label!r}") from None
        except p11.PKCS11Error as exc:
            raise _hsm_error(f"looking up key {key_id}", exc) from None

    # -- signing keys ---------------------------------------------------------------------

    def generate_signing_key(self, key_id: str, algorithm: Algorithm) -> KeyHandle:
        session = self._open()
        curve = _CURVES.get(algorithm)
        if curve is None:
            raise UnsupportedAlgorithm(f"{algorithm.value} is not supported by the PKCS#11 store")
        if any(True for _ in session.get_objects({Attribute.LABEL: key_id})):
            raise HsmError(f"key {key_id} already exists on the PKCS#11 token")
        try:
            edwards = algorithm is Algorithm.ED25519
            params = session.create_domain_parameters(
                KeyType.EC_EDWARDS if edwards else KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)},
                local=True,
            )
            params.generate_keypair(
                mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN if edwards else None,
                store=True,
                label=key_id,
                id=key_id.encode(),
                # Signing only: python-pkcs11's EC default would also set CKA_DERIVE (ECDH),
                # letting anyone with the PIN derive secrets from the signing key.
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                public_template={
                    Attribute.VERIFY: True,
                    Attribute.DERIVE: False,
                    Attribute.ENCRYPT: False,
                    Attribute.WRAP: False,
                },
                private_template={
                    Attribute.SIGN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.DERIVE: False,
                    Attribute.DECRYPT: False,
                    Attribute.UNWRAP: False,
                },
            )
        except p11.PKCS11Error as exc:
            raise _hsm_error(f"generating key {key_id}", exc) from None
        log.info(
            "generated %s key %s on PKCS#11 token %r", algorithm.value, key_id, self.token_label
        )
        return KeyHandle(self.kind, key_id, algorithm)

    def signing_key(self, key_id: str, algorithm: Algorithm) -> KeyHandle:
        self._find(key_id, ObjectClass.PRIVATE_KEY)
        return KeyHandle(self.kind, key_id, algorithm)

    def sign(self, handle: KeyHandle, data: bytes) -> bytes:
        if handle.algorithm not in _CURVES:
            raise UnsupportedAlgorithm(f"{handle.algorithm.value} is not supported by PKCS#11")
        key = self._find(handle.key_id, ObjectClass.PRIVATE_KEY)
        try:
            if handle.algorithm is Algorithm.ED25519:
                signature: bytes = key.sign(data, mechanism=Mechanism.EDDSA)
                return signature
            raw = key.sign(handle.algorithm.digest(data), mechanism=Mechanism.ECDSA)
        except p11.PKCS11Error as exc:
            raise _hsm_error(f"signing with key {handle.key_id}", exc) from None
        half = len(raw) // 2
        return encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )

    def public_key(self, handle: KeyHandle) -> SigningPublicKey:
        key = self._find(handle.key_id, ObjectClass.PUBLIC_KEY)
        if handle.algorithm is Algorithm.ED25519:
            try:
                point = bytes(key[Attribute.EC_POINT])
            except p11.PKCS11Error as exc:
                raise _hsm_error(f"reading public key {handle.key_id}", exc) from None
            if len(point) == 34 and point[:2] == b"\x04\x20":  # DER OCTET STRING wrapping
                point = point[2:]
            try:
                return ed25519.Ed25519PublicKey.from_public_bytes(point)
            except ValueError:
                raise HsmError(f"key {handle.key_id} has a malformed Ed25519 point") from None
        try:
            der = encode_ec_public_key(key)
        except p11.PKCS11Error as exc:
            raise _hsm_error(f"reading public key {handle.key_id}", exc) from None
        public = load_der_public_key(der)
        if not isinstance(public, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
            raise HsmError(f"key {handle.key_id} is not an EC key")
        return public

    # -- master keys ----------------------------------------------------------------------

    def generate_master_key(self, kvn: int) -> None:
        key_id = master_key_id(kvn)
        session = self._open()
        if self.has_master_key(kvn):
            raise HsmError(f"issuer master key {key_id} already exists on the PKCS#11 token")
        try:
            session.generate_key(
                KeyType.AES,
                MASTER_KEY_LENGTH * 8,
                label=key_id,
                id=key_id.encode(),
                store=True,
                template={
                    Attribute.SIGN: True,
                    Attribute.VERIFY: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.ENCRYPT: False,
                    Attribute.DECRYPT: False,
                    Attribute.WRAP: False,
                    Attribute.UNWRAP: False,
                    Attribute.DERIVE: False,
                },
            )
        except p11.PKCS11Error as exc:
            raise _hsm_error(f"generating issuer master key {key_id}", exc) from None
        log.info("generated issuer master key KVN %d on PKCS#11 token %r", kvn, self.token_label)

    def has_master_key(self, kvn: int) -> bool:
        session = self._open()
        label = master_key_id(kvn)
        attrs = {Attribute.LABEL: label, Attribute.CLASS: ObjectClass.SECRET_KEY}
        return any(True for _ in session.get_objects(attrs))

    def cmac(self, kvn: int, data: bytes) -> bytes:
        key = self._find(master_key_id(kvn), ObjectClass.SECRET_KEY)
        try:
            mac: bytes = key.sign(data, mechanism=Mechanism.AES_CMAC)
        except p11.PKCS11Error as exc:
            raise _hsm_error(f"computing CMAC with key {master_key_id(kvn)}", exc) from None
        return mac

    # -- housekeeping ---------------------------------------------------------------------

    def delete(self, key_id: str) -> None:
        session = self._open()
        for obj in list(session.get_objects({Attribute.LABEL: key_id})):
            obj.destroy()
        log.info("deleted key %s from PKCS#11 token %r", key_id, self.token_label)
