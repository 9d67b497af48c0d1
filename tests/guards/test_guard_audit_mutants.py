"""Audit-log verification (card_service/audit/) where a mutation sample found no killing test.

An insider with write access to the database recomputes hashes at will (no key is needed for
the chain).  The links and the head must therefore be compared for *equality*: a chain whose
``prev_hash`` or head ``seq`` is smaller than the true one is refused exactly as a larger one
is - an ordering comparison would let one side through.  Same for the sequence number a
witness file names.  And a report that does not say whether the signers were checked
against a trust list does not claim they were.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from card_service.audit import (
    GENESIS_HASH,
    AuditReport,
    WitnessDir,
    entry_hash,
    maybe_checkpoint,
    verify_audit_log,
)
from card_service.audit.trust import local_trust
from keys.pki import KeyManager
from tests.audit.test_audit_chain import add, exec_sql
from tests.dbfixtures import NOW


def verify(
    engine: Engine, keys: KeyManager | None = None, witness: WitnessDir | None = None
) -> AuditReport:
    with Session(engine) as session:
        trust = None if keys is None else local_trust(keys)
        return verify_audit_log(session, trust, NOW + dt.timedelta(hours=1), witness=witness)


def _aware(value: object) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def relink(engine: Engine, seq: int, prev_hash: str) -> None:
    """Give entry ``seq`` the link ``prev_hash`` and recompute its hash, every later one and
    the head: the only inconsistency left is that one link."""
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT * FROM audit_event ORDER BY seq")).mappings().all()
        prev = GENESIS_HASH
        for row in rows:
            if row["seq"] < seq:
                prev = row["entry_hash"]
                continue
            link = prev_hash if row["seq"] == seq else prev
            new = entry_hash(
                row["seq"],
                _aware(row["time"]),
                row["actor"],
                row["action"],
                row["permit_number"],
                row["result"],
                link,
            )
            conn.execute(
                text("UPDATE audit_event SET prev_hash = :p, entry_hash = :h WHERE seq = :s"),
                {"p": link, "h": new, "s": row["seq"]},
            )
            prev = new
        conn.execute(text("UPDATE audit_head SET entry_hash = :h"), {"h": prev})


def entry_hash_at(engine: Engine, seq: int) -> str:
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT entry_hash FROM audit_event WHERE seq = :s"), {"s": seq}
        ).scalar_one()
    return str(value)


@pytest.mark.parametrize("seq", [3, 5])
@pytest.mark.parametrize("kind", ["smaller", "larger"])
def test_a_link_smaller_or_larger_than_the_true_one_is_refused(
    db_engine: Engine, seq: int, kind: str
) -> None:
    add(db_engine, 5)
    true_link = entry_hash_at(db_engine, seq - 1)
    # "smaller": the genesis value, as if a new chain began here; "larger": all f
    forged = GENESIS_HASH if kind == "smaller" else "f" * 64
    assert (forged < true_link) if kind == "smaller" else (forged > true_link)
    relink(db_engine, seq, forged)
    report = verify(db_engine)
    assert (report.ok, report.status, report.first_bad_seq) == (False, "bad", seq)
    assert report.reason == "prev_hash does not link to the previous entry"


def test_a_first_entry_not_linked_to_genesis_is_refused(db_engine: Engine) -> None:
    add(db_engine, 2)
    relink(db_engine, 1, "0" * 63 + "1")  # just above genesis
    report = verify(db_engine)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "prev_hash" in (report.reason or "")


def test_a_head_naming_an_earlier_entry_is_refused(db_engine: Engine) -> None:
    """The head says 4 entries while 5 are there, with the 5th one's hash: the head must name
    the last entry exactly, not at most."""
    add(db_engine, 5)
    exec_sql(db_engine, "UPDATE audit_head SET seq = 4")
    report = verify(db_engine)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert report.reason == "the chain head does not match the last entry"
    # and with the 4th entry's hash (an older head restored from a backup)
    exec_sql(db_engine, "UPDATE audit_head SET entry_hash = :h", h=entry_hash_at(db_engine, 4))
    report = verify(db_engine)
    assert (report.ok, report.first_bad_seq) == (False, 5)


def test_a_head_naming_a_later_entry_is_truncation(db_engine: Engine) -> None:
    add(db_engine, 5)
    exec_sql(db_engine, "UPDATE audit_head SET seq = 6")
    report = verify(db_engine)
    assert (report.ok, report.first_bad_seq) == (False, 6)
    assert report.reason == "log truncated: head names entry 6"


@pytest.mark.parametrize("forged", [GENESIS_HASH, "f" * 64])
def test_a_head_with_the_right_seq_and_a_wrong_hash_is_refused(
    db_engine: Engine, forged: str
) -> None:
    add(db_engine, 3)
    exec_sql(db_engine, "UPDATE audit_head SET entry_hash = :h", h=forged)
    report = verify(db_engine)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert report.reason == "the chain head does not match the last entry"


@pytest.mark.parametrize(("name", "content"), [(6, 3), (3, 6)])
def test_a_witness_file_naming_another_entry_is_refused(
    db_engine: Engine, key_manager: KeyManager, tmp_path: Path, name: int, content: int
) -> None:
    """checkpoint-6 holding checkpoint 3 (an older, genuinely signed seal put in place of a
    newer one) is refused as such, like the other way round."""
    witness = WitnessDir(tmp_path / "witness")
    add(db_engine, 7)
    assert maybe_checkpoint(db_engine, key_manager, 3, NOW, witness) is not None
    assert witness.seqs() == [3, 6]
    copy = witness.read_bytes(content)
    target = witness.path / f"checkpoint-{name:012d}.json"
    target.unlink()
    target.write_bytes(copy)
    report = verify(db_engine, key_manager, witness)
    assert (report.ok, report.status, report.first_bad_seq) == (False, "bad", name)
    assert report.reason == f"witness checkpoint {name}: the file names entry {content}"


def test_signers_are_trusted_only_when_checked_against_a_trust_list(
    db_engine: Engine, key_manager: KeyManager, tmp_path: Path
) -> None:
    witness = WitnessDir(tmp_path / "witness")
    add(db_engine, 3)
    assert maybe_checkpoint(db_engine, key_manager, 3, NOW, witness) is not None
    assert verify(db_engine, key_manager, witness).signers_trusted is True
    assert verify(db_engine, None, witness).signers_trusted is False
    exec_sql(db_engine, "UPDATE audit_event SET result = 'x' WHERE seq = 2")
    assert verify(db_engine, key_manager, witness).signers_trusted is True
    assert verify(db_engine, None, witness).signers_trusted is False


def test_a_report_that_does_not_say_claims_no_trust() -> None:
    """AuditReport is public (the API will build and relay reports): left unsaid, the signer
    check against a trust list is not claimed."""
    assert AuditReport(True, 0).signers_trusted is False
    assert AuditReport(False, 3, 2, "bad").signers_trusted is False
