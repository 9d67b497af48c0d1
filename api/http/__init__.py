"""The permit HTTP service (FastAPI): :func:`create_app` over an office; ``permit serve``
runs it under uvicorn (:mod:`.main`, :mod:`api.cli.serve`).  docs/http-api.md."""

from __future__ import annotations

from .app import API_VERSION, create_app
from .deps import Authenticator, Limits, require

__all__ = ["API_VERSION", "Authenticator", "Limits", "create_app", "require"]
