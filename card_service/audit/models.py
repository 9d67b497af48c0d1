"""Audit tables: the hash-chained entries, the chain head and signed checkpoints.

The entries hold actor, action, permit number, result and time, and nothing else: no name,
ID number, address or portrait (docs/register.md, "Audit log").
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from card_service.register.types import UtcDateTime

__all__ = ["AuditCheckpoint", "AuditEvent", "AuditHead"]


class AuditEvent(SQLModel, table=True):
    """One entry of the chain; ``seq`` is gapless from 1."""

    __tablename__ = "audit_event"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    time: dt.datetime = Field(sa_type=UtcDateTime)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    permit_number: str | None = Field(default=None, max_length=32, index=True)
    result: str = Field(max_length=200)
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The single row (``id = 1``) naming the last entry; writers lock it to append."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int
    entry_hash: str = Field(max_length=64)


class AuditCheckpoint(SQLModel, table=True):
    """A signature over (seq, entry_hash, time) of one entry, made with a key-store key."""

    __tablename__ = "audit_checkpoint"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    entry_hash: str = Field(max_length=64)
    time: dt.datetime = Field(sa_type=UtcDateTime)
    signer_id: str = Field(max_length=64)
    signature: str = Field(sa_type=Text)  # hex
    certificate: str = Field(sa_type=Text)  # PEM
