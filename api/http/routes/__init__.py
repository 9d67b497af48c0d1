"""The routes, one module per resource; each route parses, authorises (a role guard), calls
one office method (in a worker thread, :func:`~api.http.deps.call`) and returns a model."""

from __future__ import annotations

from . import applications, health, permits, readers, status, verifications

__all__ = ["applications", "health", "permits", "readers", "status", "verifications"]
