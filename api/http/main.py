"""The service as uvicorn runs it: :func:`app_from_env`, an app factory over the office of
this process's environment (``uvicorn api.http.main:app_from_env --factory``; each worker
process calls it once and closes its office at shutdown)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from card_service.office import Office

from .app import create_app

__all__ = ["APP_FACTORY", "app_from_env"]

#: The import string ``permit serve`` hands uvicorn (``factory=True``).
APP_FACTORY = "api.http.main:app_from_env"


def app_from_env() -> FastAPI:
    """The app over :meth:`Office.from_env` of ``os.environ``."""
    office = Office.from_env(os.environ)
    return create_app(office, on_shutdown=lambda o: o.close())
