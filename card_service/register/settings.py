"""Register settings from the environment (the database URL is in :mod:`.db`)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .permit_numbers import check_authority_code

__all__ = ["AUTHORITY_CODE_ENV", "authority_code"]

AUTHORITY_CODE_ENV = "PERMIT_AUTHORITY_CODE"


def authority_code(env: Mapping[str, str] | None = None) -> str | None:
    """``$PERMIT_AUTHORITY_CODE`` (6-digit GB/T 2260 code of the issuing authority) or None."""
    env = os.environ if env is None else env
    value = env.get(AUTHORITY_CODE_ENV, "").strip()
    return check_authority_code(value) if value else None
