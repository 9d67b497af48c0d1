"""The issuing office: the application layer the CLI (and the coming HTTP API) stand on.

:class:`Office` is built once from :class:`~.settings.Settings` and exposes the use cases as
methods; entry points parse, call one method, and present its result.  The use cases live
by concern in :mod:`.issuing` (the counter), :mod:`.verifying` (reads), :mod:`.admin`
(register, audit, keys, readers), :mod:`.relying` (relying parties), :mod:`.clients` (API
clients), :mod:`.monitoring` (audit pages, checkpoints, the trust document, reader events)
and :mod:`.status` (the signed status list); the composition is :mod:`.core`.  Expected
failures are :class:`~permit_errors.PermitError` subclasses (:mod:`.errors`); verification
outcomes are results.
"""

from __future__ import annotations

from collections.abc import Mapping

from card_service.workflows.progress import ProgressSink

from .admin import AdminUseCases
from .clients import ClientUseCases
from .issuing import IssuingUseCases
from .monitoring import MonitoringUseCases
from .offline import OfflineUseCases
from .relying_batch import RelyingBatchUseCases
from .settings import Settings
from .status import StatusListUseCases
from .verifying import VerifyingUseCases

__all__ = ["Office"]


class Office(
    MonitoringUseCases,
    IssuingUseCases,
    VerifyingUseCases,
    RelyingBatchUseCases,
    AdminUseCases,
    ClientUseCases,
    StatusListUseCases,
    OfflineUseCases,
):
    """One issuing office; use as a context manager (or call :meth:`close`)."""

    @classmethod
    def from_settings(
        cls, settings: Settings, *, on_progress: ProgressSink | None = None
    ) -> Office:
        """An office on the configured register, key store and readers; each part is
        opened when a use case first needs it (revoking a permit opens no key store)."""
        return cls(settings, on_progress=on_progress)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, on_progress: ProgressSink | None = None
    ) -> Office:
        """:meth:`from_settings` of :meth:`Settings.from_env`."""
        return cls.from_settings(Settings.from_env(environ), on_progress=on_progress)

    def __enter__(self) -> Office:
        return self
