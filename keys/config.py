"""Settings of the key layer, read from the environment.

| variable | meaning |
|---|---|
| ``PERMIT_HOME`` | data directory; keys live in ``$PERMIT_HOME/keys`` |
| ``PERMIT_KEY_STORE`` | ``file`` (default) or ``pkcs11`` |
| ``PERMIT_KEY_PASSPHRASE`` / ``PERMIT_KEY_PASSPHRASE_FILE`` | file store passphrase |
| ``PERMIT_PKCS11_MODULE`` | path of the PKCS#11 module (.so) |
| ``PERMIT_PKCS11_TOKEN`` | token label |
| ``PERMIT_PKCS11_PIN`` / ``PERMIT_PKCS11_PIN_FILE`` | token user PIN |

Secrets are read only when a store is opened and are kept out of every ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .home import permit_home

__all__ = [
    "MIN_PASSPHRASE_LENGTH",
    "KeySettings",
    "keys_dir",
    "load_settings",
]

MIN_PASSPHRASE_LENGTH = 12
#: Passphrases refused whatever their length (compared case-insensitively, without spaces).
_DEFAULT_PASSPHRASES = frozenset(
    {
        "change-me",
        "changeme",
        "change_me",
        "password",
        "passphrase",
        "secret",
        "permit",
        "default",
        "test",
        "admin",
        "123456789012",
        "changemechangeme",
    }
)


def keys_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$PERMIT_HOME/keys`` (not created here; an existing data directory that is not private
    is refused with :class:`~keys.home.InsecureDataDirectory`)."""
    return permit_home(env, create=False) / "keys"


def _secret(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name)
    file_name = env.get(name + "_FILE")
    if value is None and file_name:
        try:
            value = Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"cannot read {name}_FILE ({file_name}): {exc.strerror}") from None
        except UnicodeDecodeError:
            # never echo the bytes: they are (part of) the secret
            raise ConfigError(f"{name}_FILE ({file_name}) is not valid UTF-8 text") from None
    if not value:
        raise ConfigError(f"no {what}: set {name} or {name}_FILE")
    return value


@dataclass(frozen=True)
class KeySettings:
    """Where and how keys are stored.  ``passphrase`` and ``pin`` never appear in ``repr``."""

    directory: Path
    store: str = "file"
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def passphrase(self) -> bytes:
        """The file store passphrase; refuses an empty, short or well-known default one."""
        value = _secret(self.env, "PERMIT_KEY_PASSPHRASE", "key-store passphrase")
        squashed = "".join(value.split()).lower()
        if squashed in _DEFAULT_PASSPHRASES:
            raise ConfigError("the key-store passphrase is a well-known default: choose another")
        if len(value) < MIN_PASSPHRASE_LENGTH:
            raise ConfigError(
                "the key-store passphrase is too short "
                f"(at least {MIN_PASSPHRASE_LENGTH} characters)"
            )
        return value.encode("utf-8")

    def pin(self) -> str:
        """The PKCS#11 user PIN."""
        return _secret(self.env, "PERMIT_PKCS11_PIN", "PKCS#11 user PIN")


def load_settings(env: Mapping[str, str] | None = None) -> KeySettings:
    """Read the settings from ``env`` (default: the process environment)."""
    env = dict(os.environ if env is None else env)
    store = env.get("PERMIT_KEY_STORE", "file").strip().lower() or "file"
    if store not in ("file", "pkcs11"):
        raise ConfigError(f"PERMIT_KEY_STORE must be 'file' or 'pkcs11', not {store!r}")
    module = env.get("PERMIT_PKCS11_MODULE") or None
    token = env.get("PERMIT_PKCS11_TOKEN") or None
    if store == "pkcs11" and (module is None or token is None):
        raise ConfigError(
            "PERMIT_KEY_STORE=pkcs11 needs PERMIT_PKCS11_MODULE and PERMIT_PKCS11_TOKEN"
        )
    return KeySettings(
        directory=keys_dir(env), store=store, pkcs11_module=module, pkcs11_token=token, env=env
    )
