"""What an insider with write access to the database (and no key) can do to the audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, text

from card_service.audit import entry_hash


def _aware(value: object) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def rewrite_history(engine: Engine, seq: int, result: str = "invalid") -> None:
    """Edit entry ``seq``'s result, recompute every later hash and the head (no key needed)."""
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT * FROM audit_event ORDER BY seq")).mappings().all()
        prev = "0" * 64
        for row in rows:
            value = result if row["seq"] == seq else row["result"]
            new = entry_hash(
                row["seq"],
                _aware(row["time"]),
                row["actor"],
                row["action"],
                row["permit_number"],
                value,
                prev,
            )
            conn.execute(
                text("UPDATE audit_event SET result=:r, prev_hash=:p, entry_hash=:h WHERE seq=:s"),
                {"r": value, "p": prev, "h": new, "s": row["seq"]},
            )
            prev = new
        conn.execute(text("UPDATE audit_head SET entry_hash=:h"), {"h": prev})


def delete_checkpoints(engine: Engine, above: int = 0) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoint WHERE seq > :s"), {"s": above})


def truncate(engine: Engine, keep: int) -> None:
    """Cut the log after entry ``keep``, drop checkpoints past it and rewind the head."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq > :k"), {"k": keep})
        conn.execute(text("DELETE FROM audit_checkpoint WHERE seq > :k"), {"k": keep})
        last = conn.execute(
            text("SELECT entry_hash FROM audit_event WHERE seq = :k"), {"k": keep}
        ).scalar_one()
        conn.execute(
            text("UPDATE audit_head SET seq = :k, entry_hash = :h"), {"k": keep, "h": last}
        )
