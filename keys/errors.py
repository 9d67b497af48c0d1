"""The exceptions of the key layer.

Every expected failure is a :class:`KeyStoreError` subclass whose message is one line and
never contains key material, a passphrase or a PIN: messages are built only from key ids,
file names, token labels and fixed text.  Validation of a signer chain by a verifier has its
own single exception, :class:`SignerValidationError` (like pyca/cryptography's
``VerificationError``): a verifier needs one thing to catch.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CorruptKeyFile",
    "HsmError",
    "KeyStoreError",
    "KeysExist",
    "KeysNotInitialised",
    "NoUsableSigner",
    "RootExpired",
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


class KeyStoreError(Exception):
    """Base of every expected key-layer failure (one-line message, no secrets)."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


class ConfigError(KeyStoreError):
    """A setting is missing or unacceptable (e.g. an empty or default passphrase)."""


class WrongPassphrase(KeyStoreError):
    """The key-store passphrase does not open the store."""


class CorruptKeyFile(KeyStoreError):
    """A key, certificate or registry file cannot be parsed or fails its integrity check."""


class TokenNotFound(KeyStoreError):
    """The PKCS#11 module or token is not there."""


class WrongPin(KeyStoreError):
    """The token rejected the user PIN."""


class TokenLocked(KeyStoreError):
    """The token's user PIN is locked (too many wrong PINs)."""


class HsmError(KeyStoreError):
    """Any other PKCS#11 failure."""


class KeysExist(KeyStoreError):
    """``init`` would overwrite existing keys."""


class KeysNotInitialised(KeyStoreError):
    """There is no key registry yet (run ``permit keys init``)."""


class NoUsableSigner(KeyStoreError):
    """No document signer may sign now and none can be created."""


class RootExpired(KeyStoreError):
    """The root certificate is expired (or not yet valid) at the given time."""


class UnknownSigner(KeyStoreError):
    """No document signer with that id."""


class UnknownKey(KeyStoreError):
    """The store holds no key with that id or key version."""


class UnsupportedAlgorithm(KeyStoreError):
    """The algorithm is not supported by this store."""


class SignerValidationError(Exception):
    """A document-signer chain failed validation (the only exception a verifier raises)."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))
