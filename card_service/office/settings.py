"""The office's settings: the one place in permit that reads the process environment.

:meth:`Settings.from_env` copies what permit reads from the environment into one frozen
object; the rest of the code takes it (or values drawn from it) as a parameter.  Reading is
eager, interpretation lazy where a command that does not need a setting must not be refused
for it, exactly as before the office existed: ``PERMIT_ENV`` is checked at once (every command
refuses an unknown one), the authority code, the checkpoint cadence, the database URL and
the key-store settings when a use case needs them.

| variable | meaning |
|---|---|
| ``PERMIT_ENV`` | ``development`` (default) or ``production`` (no simulator) |
| ``PERMIT_HOME`` | data directory (default ``$XDG_DATA_HOME/permit``) |
| ``PERMIT_DATABASE_URL`` | register database (default SQLite ``$PERMIT_HOME/register.db``) |
| ``PERMIT_AUTHORITY_CODE`` | 6-digit GB/T 2260 code of the issuing authority |
| ``PERMIT_AUDIT_CHECKPOINT_EVERY`` | seal the audit log every N entries (default 100) |
| ``PERMIT_AUDIT_WITNESS_DIR`` | audit witness (default ``$PERMIT_HOME/audit-witness``) |
| ``PERMIT_READERS`` | reader driver: ``pcsc`` (default) or ``sim`` |
| ``PERMIT_KEY_*``, ``PERMIT_PKCS11_*`` | the key store (:mod:`keys.config`) |
| ``PERMIT_REDIS_URL`` | the service's shared state (challenges, rate limits); unset: in memory |
| ``PERMIT_REDIS_PREFIX`` | the prefix of every Redis key (default ``permit:``) |
| ``PERMIT_RATE_LIMITS`` | ``CLASS=REQUESTS/SECONDS,...`` (:mod:`card_service.shared_state`) |
| ``PERMIT_STATUS_LIST_URI`` | the ``sub`` of the signed status list: its public URL |

Secrets (passphrase, token PIN) are carried for :class:`~keys.config.KeySettings`, which reads
them only when a store is opened; they never appear in ``repr``, and neither does
``PERMIT_REDIS_URL`` (it may hold a password).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from card_service.audit.witness import WITNESS_DIR_ENV
from card_service.register.db import DATABASE_URL_ENV
from card_service.register.settings import (
    AUTHORITY_CODE_ENV,
    CHECKPOINT_EVERY_ENV,
    DEFAULT_CHECKPOINT_EVERY,
)
from card_service.register.settings import authority_code as _authority_code
from card_service.register.settings import checkpoint_every as _checkpoint_every
from card_service.shared_state import DEFAULT_PREFIX, RateLimits, SharedStateConfigError
from keys.config import KeySettings, load_settings
from keys.home import home_path, permit_home
from permit_env import ENV_VAR, Environment, current, simulator_allowed

from .errors import SettingsError, SimulatorRefused

__all__ = [
    "RATE_LIMITS_ENV",
    "READERS_ENV",
    "REDIS_PREFIX_ENV",
    "REDIS_URL_ENV",
    "SIMULATOR_WHY",
    "STATUS_LIST_URI_ENV",
    "Settings",
]

READERS_ENV = "PERMIT_READERS"
REDIS_URL_ENV = "PERMIT_REDIS_URL"
REDIS_PREFIX_ENV = "PERMIT_REDIS_PREFIX"
RATE_LIMITS_ENV = "PERMIT_RATE_LIMITS"
STATUS_LIST_URI_ENV = "PERMIT_STATUS_LIST_URI"
#: ``sub`` of the status list when ``PERMIT_STATUS_LIST_URI`` is unset (set it to the URL
#: verifiers download the list from, e.g. ``https://permits.example.gov.cn/v1/status-list``).
DEFAULT_STATUS_LIST_URI = "urn:permit:status-list"
#: Why the simulator is refused in production (the tail of every refusal).
SIMULATOR_WHY = "simulated cards are for testing only (docs/simulator.md)"

#: Variables the key layer reads (its settings and secrets), and those ``home_path`` reads.
_KEY_PREFIXES = ("PERMIT_KEY_", "PERMIT_PKCS11_")
_HOME_VARS = ("PERMIT_HOME", "XDG_DATA_HOME")


@dataclass(frozen=True)
class Settings:
    """Everything permit takes from its environment, read once."""

    environment: Environment = Environment.DEVELOPMENT
    #: ``$PERMIT_HOME`` (or the XDG default): neither checked nor created here.
    home: Path = field(default_factory=lambda: home_path({}))
    database_url: str | None = None
    authority_code_text: str = ""
    checkpoint_every_text: str = ""
    witness_dir_text: str = ""
    #: The reader driver's name, ``None`` for the default (``pcsc``).
    readers: str | None = None
    #: The variables of the key layer (secrets included: never in ``repr``).
    key_env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: The shared store (Redis) of the service, ``None`` for in memory; may hold a password.
    shared_state_url: str | None = field(default=None, repr=False)
    shared_state_prefix: str = DEFAULT_PREFIX
    rate_limits_text: str = ""
    #: ``sub`` of the signed status list (``PERMIT_STATUS_LIST_URI``).
    status_list_uri: str = DEFAULT_STATUS_LIST_URI

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """The settings in ``environ``; an unknown ``PERMIT_ENV`` is refused at once."""
        env = {k: v for k, v in environ.items() if k.startswith("PERMIT_") or k in _HOME_VARS}
        environment = current(env)
        home_env = {k: v for k, v in env.items() if k in _HOME_VARS}
        key_env = {k: v for k, v in env.items() if k.startswith(_KEY_PREFIXES) or k in _HOME_VARS}
        return cls(
            environment=environment,
            home=home_path(home_env),
            database_url=env.get(DATABASE_URL_ENV, "").strip() or None,
            authority_code_text=env.get(AUTHORITY_CODE_ENV, ""),
            checkpoint_every_text=env.get(CHECKPOINT_EVERY_ENV, ""),
            witness_dir_text=env.get(WITNESS_DIR_ENV, ""),
            readers=env.get(READERS_ENV, "").strip().lower() or None,
            key_env=MappingProxyType(key_env),
            shared_state_url=env.get(REDIS_URL_ENV, "").strip() or None,
            shared_state_prefix=env.get(REDIS_PREFIX_ENV, "").strip() or DEFAULT_PREFIX,
            status_list_uri=env.get(STATUS_LIST_URI_ENV, "").strip() or DEFAULT_STATUS_LIST_URI,
            rate_limits_text=env.get(RATE_LIMITS_ENV, ""),
        )

    # -- interpreted on use ------------------------------------------------------------

    def status_uri(self) -> str:
        """``PERMIT_STATUS_LIST_URI``, checked: the list's ``sub`` and the ``uri`` of every
        issued record's status reference (an absolute ASCII URI, at most 255 bytes)."""
        from card_service.record.status_ref import StatusError, check_uri

        try:
            return check_uri(self.status_list_uri)
        except StatusError:
            raise SettingsError(
                f"{STATUS_LIST_URI_ENV} must be an absolute URI (ASCII, no spaces, "
                "at most 255 bytes)"
            ) from None

    @property
    def simulator_allowed(self) -> bool:
        return simulator_allowed(self.environment)

    def require_simulator(self, what: str) -> None:
        """Refuse ``what`` (one line) when ``PERMIT_ENV=production``."""
        if not self.simulator_allowed:
            raise SimulatorRefused(f"{what} is refused when {ENV_VAR}=production: {SIMULATOR_WHY}")

    def data_dir(self) -> Path:
        """The data directory, checked private and created 0700 if missing."""
        return permit_home({"PERMIT_HOME": str(self.home)})

    def register_url(self) -> str:
        """``PERMIT_DATABASE_URL``, else the SQLite file ``$PERMIT_HOME/register.db``."""
        return self.database_url or f"sqlite:///{self.data_dir() / 'register.db'}"

    def authority_code(self) -> str | None:
        """The issuing authority's code, or ``None`` (a read-only register)."""
        try:
            return _authority_code({AUTHORITY_CODE_ENV: self.authority_code_text})
        except ValueError as exc:
            raise SettingsError(str(exc)) from None

    def checkpoint_every(self) -> int:
        """The audit checkpoint cadence (1-100000, default 100)."""
        if not self.checkpoint_every_text.strip():
            return DEFAULT_CHECKPOINT_EVERY
        try:
            return _checkpoint_every({CHECKPOINT_EVERY_ENV: self.checkpoint_every_text})
        except ValueError as exc:
            raise SettingsError(str(exc)) from None

    def witness_dir(self) -> Path:
        """``PERMIT_AUDIT_WITNESS_DIR``, else ``$PERMIT_HOME/audit-witness``."""
        value = self.witness_dir_text.strip()
        return Path(value).expanduser() if value else self.data_dir() / "audit-witness"

    def key_settings(self) -> KeySettings:
        """The key store's settings (:func:`keys.config.load_settings` over ``key_env``)."""
        return load_settings(self.key_env)

    def rate_limits(self) -> RateLimits:
        """``PERMIT_RATE_LIMITS`` over the defaults (``status`` is the strictest class)."""
        try:
            return RateLimits.parse(self.rate_limits_text)
        except SharedStateConfigError as exc:
            raise SettingsError(str(exc)) from None
