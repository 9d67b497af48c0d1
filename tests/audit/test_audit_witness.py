"""The checkpoint witness (RFC 9162 style): attacks of an insider who can write the database
and has no key, detected only because the checkpoints also live outside it (both databases)."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from card_service.audit import (
    AuditCheckpoint,
    AuditReport,
    WitnessConflict,
    WitnessDir,
    WitnessedCheckpoint,
    WitnessError,
    create_checkpoint,
    maybe_checkpoint,
    verify_audit_log,
)
from card_service.audit.trust import local_trust
from keys.pki import KeyManager
from tests.dbfixtures import NOW

from .attacks import delete_checkpoints, rewrite_history, truncate
from .test_audit_chain import add, exec_sql

LATER = NOW + dt.timedelta(hours=1)


@pytest.fixture
def witness(tmp_path: Path) -> WitnessDir:
    return WitnessDir(tmp_path / "witness-store" / "audit")


def verify(
    engine: Engine, keys: KeyManager, witness: WitnessDir | None, every: int | None = None
) -> AuditReport:
    with Session(engine) as session:
        return verify_audit_log(session, local_trust(keys), LATER, witness=witness, every=every)


def sealed_log(engine: Engine, keys: KeyManager, witness: WitnessDir) -> None:
    """Seven entries, checkpoints at 3 and 6 (cadence 3), both witnessed."""
    add(engine, 7)
    assert maybe_checkpoint(engine, keys, 3, NOW, witness) is not None
    assert witness.seqs() == [3, 6]


def test_every_checkpoint_is_witnessed_0600_in_0700(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    sealed_log(db_engine, key_manager, witness)
    assert stat.S_IMODE(os.stat(witness.path).st_mode) == 0o700
    for seq in (3, 6):
        path = witness.path / f"checkpoint-{seq:012d}.json"
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
        cp = witness.read(seq)
        assert cp.seq == seq and cp.signer_id.startswith("audit-")
        assert path.read_bytes() == cp.to_bytes()  # canonical, self-contained
    with Session(db_engine) as session:
        rows = session.execute(select(AuditCheckpoint)).scalars().all()
    assert [(r.seq, r.signature) for r in rows] == [(s, witness.read(s).signature) for s in (3, 6)]
    report = verify(db_engine, key_manager, witness, every=3)
    assert (report.ok, report.status, report.witnessed_checkpoints) == (True, "ok", 2)
    assert (report.last_witnessed_seq, report.unsealed_entries) == (6, 1)


def test_attack_delete_checkpoints_and_rewrite_sealed_history(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    sealed_log(db_engine, key_manager, witness)
    delete_checkpoints(db_engine)
    rewrite_history(db_engine, 2)
    fooled = verify(db_engine, key_manager, None)  # the register alone: what it was before
    assert fooled.ok and fooled.checkpoints_checked == 0
    caught = verify(db_engine, key_manager, witness)
    assert (caught.ok, caught.status, caught.first_bad_seq) == (False, "bad", 3)
    assert "witnessed checkpoint" in (caught.reason or "") and "rewritten" in (caught.reason or "")
    assert caught.unsealed_entries is None  # nothing is claimed about a bad log
    # the configured cadence catches the deletion even without the witness
    cadence = verify(db_engine, key_manager, None, every=3)
    assert (cadence.ok, cadence.first_bad_seq) == (False, 3)
    assert "checkpoint due at entry 3 is missing" in (cadence.reason or "")


def test_attack_delete_checkpoint_rows_only(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    sealed_log(db_engine, key_manager, witness)
    delete_checkpoints(db_engine, above=3)
    report = verify(db_engine, key_manager, witness)
    assert (report.ok, report.first_bad_seq) == (False, 6)
    assert "missing from the register" in (report.reason or "")


def test_attack_truncate_past_the_last_witnessed_checkpoint(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    sealed_log(db_engine, key_manager, witness)
    truncate(db_engine, 4)
    fooled = verify(db_engine, key_manager, None, every=3)
    assert fooled.ok and fooled.last_checkpoint_seq == 3  # the register cannot know
    caught = verify(db_engine, key_manager, witness, every=3)
    assert (caught.ok, caught.first_bad_seq) == (False, 5)
    assert "log truncated: witnessed checkpoint 6" in (caught.reason or "")
    assert caught.unsealed_entries is None


def test_cut_to_a_checkpoint_never_reports_it_sealed_without_the_witness_saying_so(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    """The register alone says 0 unsealed after the cut to entry 3; the witness shows the cut."""
    sealed_log(db_engine, key_manager, witness)
    truncate(db_engine, 3)
    assert verify(db_engine, key_manager, None).unsealed_entries == 0
    caught = verify(db_engine, key_manager, witness)
    assert (caught.ok, caught.unsealed_entries) == (False, None)
    assert "truncated" in (caught.reason or "")


def test_unwitnessed_tail_is_counted_unsealed(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    """A checkpoint made without the witness (register only) does not count as sealed."""
    sealed_log(db_engine, key_manager, witness)
    create_checkpoint(db_engine, key_manager, NOW)  # at 7, no witness given
    report = verify(db_engine, key_manager, witness)
    assert (report.ok, report.status, report.unwitnessed_seqs) == (False, "unwitnessed", [7])
    assert report.unsealed_entries == 1 and report.last_witnessed_seq == 6
    assert verify(db_engine, key_manager, None).unsealed_entries == 0


def test_crash_between_register_and_witness_is_not_tampering(
    db_engine: Engine,
    key_manager: KeyManager,
    witness: WitnessDir,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add(db_engine, 4)
    real_write = WitnessDir.write

    def failing(self: WitnessDir, cp: WitnessedCheckpoint) -> bool:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(WitnessDir, "write", failing)
    with pytest.raises(WitnessError, match="checkpoint 4 is stored but not witnessed"):
        create_checkpoint(db_engine, key_manager, NOW, witness=witness)
    monkeypatch.setattr(WitnessDir, "write", real_write)
    report = verify(db_engine, key_manager, witness, every=4)
    assert (report.ok, report.status, report.first_bad_seq) == (False, "unwitnessed", 4)
    assert "not in the witness" in (report.reason or "")
    add(db_engine, 1, start=10)
    create_checkpoint(db_engine, key_manager, NOW, witness=witness)  # re-witnesses 4 first
    assert witness.seqs() == [4, 5]
    assert verify(db_engine, key_manager, witness, every=4).status == "ok"


def test_witnessed_checkpoint_deleted_from_the_register_blocks_resealing(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    sealed_log(db_engine, key_manager, witness)
    delete_checkpoints(db_engine, above=3)
    rewrite_history(db_engine, 5)
    add(db_engine, 2, start=20)
    with pytest.raises(WitnessConflict, match="witness holds checkpoint 6"):
        maybe_checkpoint(db_engine, key_manager, 3, NOW, witness)
    with Session(db_engine) as session:  # the rewritten history was not sealed
        assert [c.seq for c in session.execute(select(AuditCheckpoint)).scalars()] == [3]


def test_due_checkpoints_are_made_at_fixed_distances(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    add(db_engine, 10)  # written without the key (like 'permit revoke')
    maybe_checkpoint(db_engine, key_manager, 3, NOW, witness)
    assert witness.seqs() == [3, 6, 9]
    assert verify(db_engine, key_manager, witness, every=3).ok


def test_missing_checkpoint_in_the_middle_is_a_failure(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    add(db_engine, 10)
    maybe_checkpoint(db_engine, key_manager, 3, NOW, witness)
    exec_sql(db_engine, "DELETE FROM audit_checkpoint WHERE seq = 6")
    report = verify(db_engine, key_manager, None, every=3)
    assert (report.ok, report.first_bad_seq) == (False, 6)
    (witness.path / "checkpoint-000000000006.json").unlink()  # both stores lost it
    report = verify(db_engine, key_manager, witness, every=3)
    assert (report.ok, report.first_bad_seq) == (False, 6) and "due" in (report.reason or "")


def test_tail_longer_than_the_cadence_is_a_missing_checkpoint(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    add(db_engine, 5)
    report = verify(db_engine, key_manager, witness, every=4)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    create_checkpoint(db_engine, key_manager, NOW, witness=witness, every=4)
    assert witness.seqs() == [4, 5]
    assert verify(db_engine, key_manager, witness, every=4).ok


def test_planted_symlink_is_refused_not_followed(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir, tmp_path: Path
) -> None:
    victim = tmp_path / "master.key"
    victim.write_bytes(b"precious")
    witness.path.mkdir(parents=True, mode=0o700)
    (witness.path / "checkpoint-000000000002.json").symlink_to(victim)
    add(db_engine, 2)
    with pytest.raises(WitnessError):
        create_checkpoint(db_engine, key_manager, NOW, witness=witness)
    assert victim.read_bytes() == b"precious"
    report = verify(db_engine, key_manager, witness)
    assert not report.ok and "not a regular file" in (report.reason or "")
    (witness.path / "checkpoint-000000000002.json").unlink()
    (witness.path / "checkpoint-000000000002.json").symlink_to(tmp_path / "nowhere")
    with pytest.raises(WitnessError):
        create_checkpoint(db_engine, key_manager, NOW, witness=witness)
    assert not (tmp_path / "nowhere").exists()  # a dangling link is not followed either


def test_witness_never_overwrites_a_different_checkpoint(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    sealed_log(db_engine, key_manager, witness)
    cp = witness.read(3)
    other = WitnessedCheckpoint(
        cp.seq, "a" * 64, cp.time, cp.signer_id, cp.signature, cp.certificate
    )
    assert witness.write(cp) is False  # the identical file: nothing to do
    with pytest.raises(WitnessConflict):
        witness.write(other)
    assert witness.read(3) == cp


@pytest.mark.parametrize(
    ("mangle", "expect"),
    [
        (lambda b: b.replace(b'"seq":3', b'"seq":3.0'), "malformed"),
        (lambda b: b.replace(b'{"c', b'{ "c'), "canonical form"),
        (lambda b: b.replace(b'{"c', b'{"seq":3,"c'), "canonical JSON"),
        (lambda b: b.replace(b'"format"', b'"x":1,"format"'), "checkpoint fields"),
        (lambda b: b.replace(b'"signature":"', b'"signature":"zz'), "'signature'"),
        (lambda b: b.replace(b'Z"', b'+00:00"'), "'time'"),
        (lambda b: b + b"\xff", "canonical JSON"),
        (lambda b: b.replace(b'"seq":3', b'"seq":6'), "names entry 6"),
        (lambda b: b + b" " * 20000, "too large"),
    ],
)
def test_malformed_witness_file_is_a_reported_failure(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir, mangle: object, expect: str
) -> None:
    sealed_log(db_engine, key_manager, witness)
    path = witness.path / "checkpoint-000000000003.json"
    assert callable(mangle)
    path.write_bytes(mangle(path.read_bytes()))
    report = verify(db_engine, key_manager, witness)
    assert (report.ok, report.first_bad_seq) == (False, 3), report
    assert expect in (report.reason or "")


def test_forged_witness_signature_and_foreign_names_are_failures(
    db_engine: Engine, key_manager: KeyManager, witness: WitnessDir
) -> None:
    add(db_engine, 2)
    create_checkpoint(db_engine, key_manager, NOW, witness=witness)
    cp = witness.read(2)
    path = witness.path / cp.file_name
    flipped = cp.signature[:-2] + ("00" if cp.signature[-2:] != "00" else "01")
    forged = WitnessedCheckpoint(
        cp.seq, cp.entry_hash, cp.time, cp.signer_id, flipped, cp.certificate
    )
    delete_checkpoints(db_engine)
    path.unlink()
    path.write_bytes(forged.to_bytes())
    report = verify(db_engine, key_manager, witness)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "signature does not verify" in (report.reason or "")
    (witness.path / "notes.txt").write_text("hello")
    report = verify(db_engine, key_manager, witness)
    assert not report.ok and "unexpected entry" in (report.reason or "")
