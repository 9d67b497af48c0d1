"""initial register and audit tables

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from card_service.register.types import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("disabled_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "applicant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_number_hmac", sa.String(length=64), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("id_number_hmac"),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("time", UtcDateTime(), nullable=False),
        sa.Column("signer_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("time", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("permit_number", sa.String(length=32), nullable=True),
        sa.Column("result", sa.String(length=200), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_event_permit_number"), ["permit_number"], unique=False
        )

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "card",
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("serial"),
    )
    op.create_table(
        "permit_counter",
        sa.Column("authority_code", sa.String(length=6), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("authority_code", "year"),
    )
    op.create_table(
        "register_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("residence_address", sa.String(length=400), nullable=False),
        sa.Column("residence_began", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=True),
        sa.Column("evidence_ref", sa.String(length=200), nullable=True),
        sa.Column("portrait_digest", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.String(length=400), nullable=False),
        sa.Column("submitted_at", UtcDateTime(), nullable=False),
        sa.Column("replaces_permit", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["applicant_id"],
            ["applicant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_application_applicant_id"), ["applicant_id"], unique=False
        )

    op.create_table(
        "permit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("card_serial", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("residence_began", sa.Date(), nullable=False),
        sa.Column("residence_counted_from", sa.Date(), nullable=True),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("first_endorsement_due", sa.Date(), nullable=False),
        sa.Column("reserved_at", UtcDateTime(), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=True),
        sa.Column("card_locked_at", UtcDateTime(), nullable=True),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.Column("mso_digest", sa.String(length=64), nullable=True),
        sa.Column("record_digest", sa.String(length=64), nullable=True),
        sa.Column("abandon_reason", sa.String(length=64), nullable=True),
        sa.Column("replaces_permit", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["applicant_id"],
            ["applicant.id"],
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
        ),
        sa.ForeignKeyConstraint(
            ["card_serial"],
            ["card.serial"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("permit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_permit_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_permit_card_serial"), ["card_serial"], unique=False)
        batch_op.create_index(batch_op.f("ix_permit_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_permit_active_person",
            ["applicant_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('RESERVED', 'ISSUED')"),
            postgresql_where=sa.text("state IN ('RESERVED', 'ISSUED')"),
        )
        batch_op.create_index(
            "uq_permit_live_card",
            ["card_serial"],
            unique=True,
            sqlite_where=sa.text("state IN ('RESERVED', 'ISSUED')"),
            postgresql_where=sa.text("state IN ('RESERVED', 'ISSUED')"),
        )

    op.create_table(
        "endorsement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("permit_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("endorsed_on", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["permit_id"],
            ["permit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("permit_id", "sequence", name="uq_endorsement_seq"),
    )
    with op.batch_alter_table("endorsement", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_endorsement_permit_id"), ["permit_id"], unique=False)

    op.create_table(
        "revocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("permit_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("effective_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["permit_id"],
            ["permit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("permit_id"),
    )

    # The audit chain head (seq 0, genesis hash) and the person-key HMAC secret: created
    # once with the schema so every process sharing the database agrees on them.
    op.bulk_insert(
        sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("entry_hash")),
        [{"id": 1, "seq": 0, "entry_hash": "0" * 64}],
    )
    op.bulk_insert(
        sa.table("register_meta", sa.column("key"), sa.column("value")),
        [{"key": "person_key", "value": secrets.token_hex(32)}],
    )


def downgrade() -> None:
    op.drop_table("revocation")
    with op.batch_alter_table("endorsement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endorsement_permit_id"))

    op.drop_table("endorsement")
    with op.batch_alter_table("permit", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_permit_live_card",
            sqlite_where=sa.text("state IN ('RESERVED', 'ISSUED')"),
            postgresql_where=sa.text("state IN ('RESERVED', 'ISSUED')"),
        )
        batch_op.drop_index(
            "uq_permit_active_person",
            sqlite_where=sa.text("state IN ('RESERVED', 'ISSUED')"),
            postgresql_where=sa.text("state IN ('RESERVED', 'ISSUED')"),
        )
        batch_op.drop_index(batch_op.f("ix_permit_state"))
        batch_op.drop_index(batch_op.f("ix_permit_card_serial"))
        batch_op.drop_index(batch_op.f("ix_permit_application_id"))

    op.drop_table("permit")
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_applicant_id"))

    op.drop_table("application")
    op.drop_table("register_meta")
    op.drop_table("permit_counter")
    op.drop_table("card")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_permit_number"))

    op.drop_table("audit_event")
    op.drop_table("audit_checkpoint")
    op.drop_table("applicant")
    op.drop_table("api_client")
