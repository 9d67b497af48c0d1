"""``PERMIT_ENV`` in the CLI: the deployment environment and what production refuses.

The environment is read in ``permit_env`` (below every layer); this module turns it into
one-line CLI errors (exit 2) and chooses the reader driver with the simulator allowed or not.
"""

from __future__ import annotations

from permit_env import Environment, EnvironmentConfigError, current, simulator_allowed
from reader_drivers import DriverNotAllowed, ReaderDriver, get_driver

from .common import CliError

__all__ = ["environment", "reader_driver", "refuse_simulator_in_production"]

_WHY = "simulated cards are for testing only (docs/simulator.md)"


def environment() -> Environment:
    """The deployment environment; an unknown ``PERMIT_ENV`` is a one-line error, exit 2."""
    try:
        return current()
    except EnvironmentConfigError as exc:
        raise CliError(f"configuration error: {exc}", exit_code=2) from None


def refuse_simulator_in_production(what: str) -> None:
    """Raise the one-line refusal when ``PERMIT_ENV=production``."""
    if not simulator_allowed(environment()):
        raise CliError(f"{what} is refused when PERMIT_ENV=production: {_WHY}", exit_code=2)


def reader_driver(name: str | None = None) -> ReaderDriver:
    """``reader_drivers.get_driver`` with the simulator allowed outside production only.

    An unknown driver name stays a ``ValueError`` for the caller to report.
    """
    allowed = simulator_allowed(environment())
    try:
        return get_driver(name, allow_simulator=allowed)
    except DriverNotAllowed:
        raise CliError(
            f"the in-process simulator reader driver (PERMIT_READERS=sim) is refused when "
            f"PERMIT_ENV=production: {_WHY}",
            exit_code=2,
        ) from None
