"""The exceptions of the key layer.

Every expected failure is a :class:`KeyStoreError` subclass whose message is one line and
never contains key material, a passphrase or a PIN: messages are built only from key ids,
file names, token labels and fixed text.  Validation of a signer chain by a verifier has its
own single exception, :class:`SignerValidationError` (like pyca/cryptography's
``VerificationError``): a verifier needs one thing to catch.
"""

from __future__ import annotations

from enum import StrEnum

from permit_errors import ErrorKind, PermitError

__all__ = [
    "ConfigError",
    "CorruptKeyFile",
    "HsmError",
    "InvalidPolicy",
    "KeyStoreError",
    "KeysExist",
    "KeysNotInitialised",
    "NoUsableSigner",
    "RootExpired",
    "SignerFailure",
    "SignerValidationError",
    "TokenLocked",
    "TokenNotFound",
    "UnknownKey",
    "UnknownSigner",
    "UnsupportedAlgorithm",
    "WrongPassphrase",
    "WrongPin",
]


def _one_line(message: str) -> str:
    return " ".join(message.split())


class KeyStoreError(PermitError):
    """Base of every expected key-layer failure (one-line message, no secrets)."""

    code = "key_store_error"
    kind = ErrorKind.CONFIG

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


class ConfigError(KeyStoreError):
    """A setting is missing or unacceptable (e.g. an empty or default passphrase)."""

    code = "key_config_invalid"
    kind = ErrorKind.CONFIG


class InvalidPolicy(KeyStoreError, ValueError):
    """A PKI policy value is unacceptable (``permit keys init`` options, the registry's
    policy); a ``ValueError`` too, as it was before it became a :class:`KeyStoreError`."""

    code = "key_policy_invalid"
    kind = ErrorKind.INVALID


class WrongPassphrase(KeyStoreError):
    """The key-store passphrase does not open the store."""

    code = "wrong_passphrase"
    kind = ErrorKind.UNAUTHORISED


class CorruptKeyFile(KeyStoreError):
    """A key, certificate or registry file cannot be parsed or fails its integrity check."""

    code = "corrupt_key_file"
    kind = ErrorKind.INTEGRITY


class TokenNotFound(KeyStoreError):
    """The PKCS#11 module or token is not there."""

    code = "token_not_found"
    kind = ErrorKind.UNAVAILABLE


class WrongPin(KeyStoreError):
    """The token rejected the user PIN."""

    code = "wrong_token_pin"
    kind = ErrorKind.UNAUTHORISED


class TokenLocked(KeyStoreError):
    """The token's user PIN is locked (too many wrong PINs)."""

    code = "token_locked"
    kind = ErrorKind.UNAUTHORISED


class HsmError(KeyStoreError):
    """Any other PKCS#11 failure."""

    code = "hsm_error"
    kind = ErrorKind.UNAVAILABLE


class KeysExist(KeyStoreError):
    """``init`` would overwrite existing keys."""

    code = "keys_exist"
    kind = ErrorKind.CONFLICT


class KeysNotInitialised(KeyStoreError):
    """There is no key registry yet (run ``permit keys init``)."""

    code = "keys_not_initialised"
    kind = ErrorKind.CONFIG


class NoUsableSigner(KeyStoreError):
    """No document signer may sign now and none can be created."""

    code = "no_usable_signer"
    kind = ErrorKind.REFUSED


class RootExpired(KeyStoreError):
    """The root certificate is expired (or not yet valid) at the given time."""

    code = "root_expired"
    kind = ErrorKind.REFUSED


class UnknownSigner(KeyStoreError):
    """No document signer with that id."""

    code = "unknown_signer"
    kind = ErrorKind.NOT_FOUND


class UnknownKey(KeyStoreError):
    """The store holds no key with that id or key version."""

    code = "unknown_key"
    kind = ErrorKind.NOT_FOUND


class UnsupportedAlgorithm(KeyStoreError):
    """The algorithm is not supported by this store."""

    code = "unsupported_algorithm"
    kind = ErrorKind.INVALID


class SignerFailure(StrEnum):
    """Why a signer chain failed validation (``SignerValidationError.reason``).

    Callers decide on the reason, never on the message (in the manner of pyca/cryptography's
    ``InvalidSignature`` / ``_Reasons``): e.g. the record verifier tells a signature made
    outside the signer's window (FORGED, with its own reason code) from an untrusted chain.
    """

    #: An argument was not acceptable (a naive datetime): a caller's bug, not the chain's.
    BAD_ARGUMENT = "bad_argument"
    #: The trust directory could not be read or parsed.
    TRUST_LIST_UNREADABLE = "trust_list_unreadable"
    EMPTY_CHAIN = "empty_chain"
    SIGNED_IN_FUTURE = "signed_in_future"
    NO_TRUST_ANCHORS = "no_trust_anchors"
    #: No path to a trusted root (bad signature, wrong issuer, validity, profile).
    CHAIN_INVALID = "chain_invalid"
    NO_SIGNING_WINDOW = "no_signing_window"
    #: Signed before the certificate's validity or outside its PrivateKeyUsagePeriod.
    OUTSIDE_SIGNING_WINDOW = "outside_signing_window"
    NO_CRL = "no_crl"
    CRL_INVALID = "crl_invalid"
    CRL_NOT_CURRENT = "crl_not_current"
    REVOKED = "revoked"
    #: A link certificate (root rollover) is not acceptable.
    LINK_INVALID = "link_invalid"
    LINK_REVOKED = "link_revoked"


class SignerValidationError(PermitError):
    """A signer chain failed validation (the only exception a verifier raises); ``reason``
    says why, as a :class:`SignerFailure`."""

    code = "signer_invalid"
    kind = ErrorKind.INTEGRITY

    def __init__(self, message: str, reason: SignerFailure = SignerFailure.CHAIN_INVALID) -> None:
        super().__init__(_one_line(message))
        self.reason = reason
