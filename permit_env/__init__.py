"""The deployment environment, ``PERMIT_ENV``: ``development`` (default) or ``production``.

Defined once, here, below every layer: this package imports nothing from the project, so any
layer may import it without breaking the layering (docs/architecture.md).  Libraries do not
read the environment themselves; they take the decision as a parameter (e.g.
``reader_drivers.get_driver(allow_simulator=...)``), and entry points (the ``permit`` CLI,
later the HTTP service) read it here and pass it down.

In production the card simulator is refused: a simulated card keeps its keys, PIN and PUK in
clear in an image file (docs/simulator.md, "Threat model").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum

from permit_errors import ErrorKind, PermitError

__all__ = [
    "ENV_VAR",
    "Environment",
    "EnvironmentConfigError",
    "current",
    "simulator_allowed",
]

ENV_VAR = "PERMIT_ENV"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


DEFAULT = Environment.DEVELOPMENT


class EnvironmentConfigError(PermitError, ValueError):
    """``PERMIT_ENV`` holds a value that is not an environment (a one-line message)."""

    code = "environment_invalid"
    kind = ErrorKind.CONFIG


def current(environ: Mapping[str, str] | None = None) -> Environment:
    """The environment named by ``PERMIT_ENV`` in ``environ`` (default ``os.environ``).

    Unset or empty: development.  Case and surrounding blanks are ignored.  Anything else is
    an :class:`EnvironmentConfigError`: a typo such as ``prod`` must not silently run a
    production site as development.
    """
    raw = (os.environ if environ is None else environ).get(ENV_VAR, "")
    value = raw.strip().lower()
    if not value:
        return DEFAULT
    try:
        return Environment(value)
    except ValueError:
        valid = " or ".join(e.value for e in Environment)
        raise EnvironmentConfigError(f"{ENV_VAR} must be {valid}, not {raw[:40]!r}") from None


def simulator_allowed(environment: Environment) -> bool:
    """Simulated cards and the in-process simulator driver: development only."""
    return environment is not Environment.PRODUCTION
