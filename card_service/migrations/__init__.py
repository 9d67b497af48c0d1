"""Alembic migrations of the register and audit tables, run from code.

``script_location`` is this package's directory, so migrations work from an installed
package without an ``alembic.ini``.  :func:`upgrade` is what services and tests call;
:func:`alembic_config` serves the ``alembic`` API (``revision --autogenerate``) too.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

__all__ = ["OWNED_TABLES", "SCRIPT_LOCATION", "alembic_config", "owned_name", "upgrade"]

log = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).resolve().parent

#: Tables these migrations own (other packages may add their own metadata later).
OWNED_TABLES = frozenset(
    {
        "register_meta",
        "applicant",
        "application",
        "permit_counter",
        "card",
        "permit",
        "endorsement",
        "revocation",
        "api_client",
        "audit_event",
        "audit_head",
        "audit_checkpoint",
    }
)


def owned_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic ``include_name`` hook: compare only the tables listed above."""
    return type_ != "table" or name in OWNED_TABLES


def alembic_config(url: str | None = None) -> Config:
    """A Config pointing at this package (``url`` is used only without a connection)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` (one transaction)."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    log.info("register database migrated to %s", revision)
