"""Checking the whole audit log: chain, head, signed checkpoints and the witness.

Detects an edited entry (hash mismatch), a deleted one (gap in ``seq``), an inserted or
reordered one (``prev_hash`` link or hash mismatch), a checkpoint that no longer matches its
entry, whose signature does not verify, whose signer is not an audit signer or does not
validate against the trust list, a truncated tail (the head or a checkpoint names an entry
that is gone), garbage in any row (reported at that entry with the field name), and, with the
cadence ``every``, a missing checkpoint (two checkpoints, or the last one and the end of the
log, more than ``every`` entries apart).

The register's own checkpoints can be deleted by whoever can write the database.  With a
``witness`` (:mod:`.witness`) each witnessed checkpoint must be in the register, identical,
signed by a trusted audit signer, and the log must extend it (at least that many entries, the
same hash at that position).  A register checkpoint the witness lacks is the one outcome of
an interrupted or failed witness write (the register row commits first): the status is then
``unwitnessed``, not ``bad``.  Entries after the last sealed checkpoint (witnessed, if a
witness is given) are only hash-chained: rewriting or removing them with the head cannot be
detected, and the report counts them as unsealed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlmodel import Session

from keys.trust import TrustList

from .chain import GENESIS_HASH, entry_hash
from .checkpoint import checkpoint_signer_problem, verify_checkpoint_signature
from .rows import Malformed, read_checkpoints, read_entries, read_head
from .witness import WitnessDir, WitnessedCheckpoint, WitnessError

__all__ = ["AuditReport", "verify_audit_log"]

log = logging.getLogger(__name__)

Status = Literal["ok", "bad", "unwitnessed"]


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    entries_checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    checkpoints_checked: int = 0
    last_checkpoint_seq: int | None = None
    #: Entries present after the last sealed checkpoint (the last *witnessed* one when a
    #: witness was given): chained only, their change or removal cannot be detected.
    #: ``None`` when the log is bad (nothing is known then).
    unsealed_entries: int | None = None
    #: False when no trust list was given: signatures and the signers' audit EKU were
    #: checked, their chain to a root and revocation were not.  False unless said (a report
    #: built elsewhere, e.g. relayed by the API, never claims a check it did not state).
    signers_trusted: bool = False
    #: "ok"; "bad" (tampered or malformed); "unwitnessed" (register checkpoints the witness
    #: lacks, left by an interrupted witness write: no tampering found, not yet proven).
    status: Status = "ok"
    witness_checked: bool = False
    witnessed_checkpoints: int = 0
    last_witnessed_seq: int | None = None
    unwitnessed_seqs: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Bad(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.seq, self.reason = seq, reason


def _problem(malformed: Malformed) -> _Bad:
    return _Bad(malformed.seq, malformed.reason)


def verify_audit_log(
    session: Session,
    trust: TrustList | None,
    now: dt.datetime,
    *,
    witness: WitnessDir | None = None,
    every: int | None = None,
) -> AuditReport:
    """Verify every entry and checkpoint (and the witness); the first problem is reported."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        # one snapshot for every read (SQLite's BEGIN IMMEDIATE already gives one)
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    checked = 0
    try:
        witnessed = _read_witness(witness)
        rows = read_checkpoints(session)
        if isinstance(rows, Malformed):
            raise _problem(rows)
        head = read_head(session)
        if head is None:
            raise _Bad(0, "the audit chain head row is missing")
        if isinstance(head, Malformed):
            raise _problem(head)
        wanted = set(rows) | set(witnessed)
        hashes: dict[int, str] = {}
        checked, last_hash = _walk(session, wanted, hashes)
        _check_head(head, checked, last_hash)
        for cp in rows.values():
            _check_checkpoint(cp, hashes, checked, trust, now, "checkpoint")
        for seq, wcp in witnessed.items():
            if seq not in rows:
                _check_checkpoint(wcp, hashes, checked, trust, now, "witnessed checkpoint")
                raise _Bad(
                    seq,
                    f"witnessed checkpoint {seq} is missing from the register"
                    " (checkpoints were deleted)",
                )
            if rows[seq] != wcp:
                raise _Bad(seq, f"register checkpoint {seq} differs from the witnessed one")
        if every is not None:
            _check_cadence(sorted(rows), checked, every)
    except _Bad as bad:
        log.warning("audit log check failed at seq %d: %s", bad.seq, bad.reason)
        return AuditReport(
            False,
            checked,
            bad.seq,
            bad.reason,
            signers_trusted=trust is not None,
            status="bad",
            witness_checked=witness is not None,
        )
    last_cp = max(rows, default=None)
    last_witnessed = max(witnessed, default=None)
    sealed = last_witnessed if witness is not None else last_cp
    unwitnessed = sorted(set(rows) - set(witnessed)) if witness is not None else []
    status: Status = "unwitnessed" if unwitnessed else "ok"
    return AuditReport(
        ok=not unwitnessed,
        entries_checked=checked,
        first_bad_seq=unwitnessed[0] if unwitnessed else None,
        reason=(
            f"{len(unwitnessed)} register checkpoint(s) not in the witness, first {unwitnessed[0]}"
            " (an interrupted or failed witness write; 'permit audit checkpoint' writes them)"
            if unwitnessed
            else None
        ),
        checkpoints_checked=len(rows),
        last_checkpoint_seq=last_cp,
        unsealed_entries=checked - (sealed or 0),
        signers_trusted=trust is not None,
        status=status,
        witness_checked=witness is not None,
        witnessed_checkpoints=len(witnessed),
        last_witnessed_seq=last_witnessed,
        unwitnessed_seqs=unwitnessed,
    )


def _read_witness(witness: WitnessDir | None) -> dict[int, WitnessedCheckpoint]:
    if witness is None:
        return {}
    out: dict[int, WitnessedCheckpoint] = {}
    try:
        seqs = witness.seqs()
    except (OSError, WitnessError) as exc:
        raise _Bad(0, f"witness directory unusable: {exc}") from None
    for seq in seqs:
        try:
            out[seq] = witness.read(seq)
        except (OSError, WitnessError) as exc:
            raise _Bad(
                seq,
                str(exc)
                if isinstance(exc, WitnessError)
                else f"witness checkpoint {seq} unreadable ({type(exc).__name__})",
            ) from None
    return out


def _walk(session: Session, wanted: set[int], hashes: dict[int, str]) -> tuple[int, str]:
    """Check every entry in order; keep the hashes at the checkpoints' positions."""
    expected, prev_hash = 1, GENESIS_HASH
    for row in read_entries(session, expected):
        if isinstance(row, Malformed):
            raise _problem(row)
        if row.seq != expected:
            if row.seq > expected:
                raise _Bad(expected, f"entry {expected} is missing")
            raise _Bad(row.seq, "entries out of order")  # pragma: no cover
        if row.prev_hash != prev_hash:
            raise _Bad(row.seq, "prev_hash does not link to the previous entry")
        digest = entry_hash(
            row.seq,
            row.time,
            row.actor,
            row.action,
            row.permit_number,
            row.result,
            row.prev_hash,
        )
        if digest != row.entry_hash:
            raise _Bad(row.seq, "entry hash mismatch: the entry was modified")
        if row.seq in wanted:
            hashes[row.seq] = digest
        prev_hash, expected = digest, expected + 1
    return expected - 1, prev_hash


def _check_head(head: tuple[int, str], last_seq: int, last_hash: str) -> None:
    seq, digest = head
    if seq != last_seq or (last_seq and digest != last_hash):
        if seq > last_seq:
            raise _Bad(last_seq + 1, f"log truncated: head names entry {seq}")
        raise _Bad(last_seq, "the chain head does not match the last entry")


def _check_checkpoint(
    cp: WitnessedCheckpoint,
    hashes: dict[int, str],
    last_seq: int,
    trust: TrustList | None,
    now: dt.datetime,
    what: str,
) -> None:
    if cp.seq > last_seq:
        raise _Bad(
            last_seq + 1,
            f"log truncated: {what} {cp.seq} names an entry past the end ({last_seq})",
        )
    if hashes.get(cp.seq) != cp.entry_hash:
        raise _Bad(cp.seq, f"entry does not match its signed {what} (history was rewritten)")
    problem = _signature_problem(cp, trust, now)
    if problem is not None:
        raise _Bad(cp.seq, problem if what == "checkpoint" else f"{what}: {problem}")


def _signature_problem(
    cp: WitnessedCheckpoint, trust: TrustList | None, now: dt.datetime
) -> str | None:
    try:
        cert = cp.load_certificate()
        signature = bytes.fromhex(cp.signature)
    except ValueError:
        return "checkpoint certificate or signature is unreadable"
    if not verify_checkpoint_signature(cert, signature, cp.message()):
        return "checkpoint signature does not verify"
    return checkpoint_signer_problem(cert, cp.time, trust, now)


def _check_cadence(seqs: list[int], last_seq: int, every: int) -> None:
    """No more than ``every`` entries between checkpoints, nor after the last one."""
    previous = 0
    for seq in [*seqs, None]:
        end = last_seq if seq is None else seq
        if end - previous > every:
            due = previous + every
            raise _Bad(
                due,
                f"checkpoint due at entry {due} is missing (checkpoint every {every}): deleted,"
                " or never made ('permit audit checkpoint' makes due ones)",
            )
        if seq is not None:
            previous = seq
