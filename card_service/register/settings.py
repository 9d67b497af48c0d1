"""Register settings from the environment (the database URL is in :mod:`.db`)."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import RegisterConfigError
from .permit_numbers import check_authority_code

__all__ = [
    "AUTHORITY_CODE_ENV",
    "CHECKPOINT_EVERY_ENV",
    "DEFAULT_CHECKPOINT_EVERY",
    "authority_code",
    "checkpoint_every",
]

AUTHORITY_CODE_ENV = "PERMIT_AUTHORITY_CODE"
CHECKPOINT_EVERY_ENV = "PERMIT_AUDIT_CHECKPOINT_EVERY"
DEFAULT_CHECKPOINT_EVERY = 100


def authority_code(env: Mapping[str, str]) -> str | None:
    """``$PERMIT_AUTHORITY_CODE`` (6-digit GB/T 2260 code of the issuing authority) or None."""
    value = env.get(AUTHORITY_CODE_ENV, "").strip()
    return check_authority_code(value) if value else None


def checkpoint_every(env: Mapping[str, str]) -> int:
    """``$PERMIT_AUDIT_CHECKPOINT_EVERY``: seal the audit log after this many entries (1-100000,
    default 100)."""
    raw = env.get(CHECKPOINT_EVERY_ENV, "").strip()
    if not raw:
        return DEFAULT_CHECKPOINT_EVERY
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise RegisterConfigError(f"{CHECKPOINT_EVERY_ENV} must be a whole number from 1 to 100000")
    return int(raw)
