"""The office's one card seam: a :class:`~card_service.card.access.CardAccess` over the
reader driver the settings name (the simulator outside production only)."""

from __future__ import annotations

from card_service.card.access import CardAccess
from reader_drivers import DEFAULT_DRIVER, DriverNotAllowed, get_driver

from .errors import SettingsError, SimulatorRefused
from .settings import READERS_ENV, SIMULATOR_WHY, Settings

__all__ = ["open_card_access"]


def open_card_access(settings: Settings, driver: str | None = None) -> CardAccess:
    """Card access through ``driver`` (default: ``PERMIT_READERS``, else ``pcsc``).

    An unknown driver name is a :class:`SettingsError`; the simulator in production a
    :class:`SimulatorRefused`; a transport that cannot start (pcscd not running) stays its
    :class:`~reader_drivers.errors.ReaderError`.
    """
    name = (driver or settings.readers or DEFAULT_DRIVER).strip().lower()
    try:
        return CardAccess(get_driver(name, allow_simulator=settings.simulator_allowed))
    except DriverNotAllowed:
        raise SimulatorRefused(
            f"the in-process simulator reader driver ({READERS_ENV}=sim) is refused when "
            f"PERMIT_ENV=production: {SIMULATOR_WHY}"
        ) from None
    except ValueError as exc:  # an unknown driver name
        raise SettingsError(str(exc)) from None
