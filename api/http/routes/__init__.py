"""The routes, one module per resource; each route parses, authorises (a role guard), calls
one office method (in a worker thread, :func:`~api.http.deps.call`) and returns a model."""

from __future__ import annotations

from . import (
    applications,
    audit,
    clients,
    health,
    permits,
    reader_events,
    readers,
    relying,
    status,
    trust,
    verifications,
)

__all__ = [
    "applications",
    "audit",
    "clients",
    "health",
    "permits",
    "reader_events",
    "readers",
    "relying",
    "status",
    "trust",
    "verifications",
]
