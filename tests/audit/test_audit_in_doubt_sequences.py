"""Attack on the group commit's "commit in doubt" handling (register.auditing): every
sequence of three failing groups (each COMMIT landing or not, the check on a fresh
connection working or not, the transaction failing before its COMMIT, the whole database
unreachable), each followed by a group that commits.  Invariants, on SQLite and PostgreSQL:

* a caller answered as committed has its entries in the log at that moment (durable);
* no entry is in the log twice, and no ``audit.in_doubt`` record names a range twice;
* an entry in the log whose caller was answered 503 is named by exactly one
  ``audit.in_doubt`` record once the doubt is settled, and an entry answered as committed
  by none;
* nothing stays in doubt after a group commits, and the chain verifies.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from card_service.audit import AuditEvent, NewEntry, verify_audit_log
from card_service.register import auditing
from card_service.register.auditing import IN_DOUBT_ACTION, GroupCommit
from card_service.register.service import Register
from tests.dbfixtures import NOW

#: COMMIT landed / lost, checked or not; failed before the COMMIT; database down.
OUTCOMES = ("landed", "landed_unchecked", "lost", "lost_unchecked", "early", "down")


class Faults:
    """One commit's faults, armed before it and disarmed after."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.engine = engine
        self.commit_fault: bool | None = None  # None: no fault; True: after landing
        self.settle_down = False
        self.present_down = False
        self.early = False
        self._commit = engine.dialect.do_commit
        self._settle = auditing._settle
        self._present = auditing._present
        self._append_many = auditing.append_many
        monkeypatch.setattr(engine.dialect, "do_commit", self.do_commit)
        monkeypatch.setattr(auditing, "_settle", self.settle)
        monkeypatch.setattr(auditing, "_present", self.present)
        monkeypatch.setattr(auditing, "append_many", self.append_many)

    def arm(self, outcome: str) -> None:
        self.commit_fault = {
            "landed": True,
            "landed_unchecked": True,
            "lost": False,
            "lost_unchecked": False,
            "down": True,
        }.get(outcome)
        self.settle_down = outcome in ("landed_unchecked", "lost_unchecked")
        self.present_down = outcome == "down"
        self.early = outcome == "early"

    def disarm(self) -> None:
        self.arm("ok")

    def do_commit(self, dbapi_connection: Any) -> None:
        after, self.commit_fault = self.commit_fault, None
        if after is None or after:
            self._commit(dbapi_connection)
        if after is not None:
            raise self.engine.dialect.loaded_dbapi.OperationalError("connection lost")

    def settle(self, *args: Any) -> bool:
        if self.settle_down:
            raise ConnectionRefusedError("no database")
        result: bool = self._settle(*args)
        return result

    def present(self, *args: Any) -> bool:
        if self.present_down:
            raise ConnectionRefusedError("no database")
        result: bool = self._present(*args)
        return result

    def append_many(self, *args: Any) -> Any:
        if self.early:
            self.early = False
            raise ConnectionResetError("lost before the COMMIT")
        return self._append_many(*args)


def _rows(engine: Engine) -> list[tuple[int, str, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(col(AuditEvent.seq), col(AuditEvent.action), col(AuditEvent.result)).order_by(
                col(AuditEvent.seq)
            )
        )
        return [(int(s), str(a), str(r)) for s, a, r in rows]


def _check_log(engine: Engine, answered: dict[str, str | None]) -> None:
    """The invariants of the module text, over the whole log."""
    rows = _rows(engine)
    results = [r for _, a, r in rows if a != IN_DOUBT_ACTION]
    assert len(results) == len(set(results)), "an entry written twice"
    by_seq = {seq: r for seq, a, r in rows if a != IN_DOUBT_ACTION}
    ranges: list[tuple[int, int]] = []
    for _, action, result in rows:
        if action == IN_DOUBT_ACTION:
            first, last = result.rsplit("seq=", 1)[1].split("-")
            ranges.append((int(first), int(last)))
    assert len(ranges) == len(set(ranges)), "an in-doubt record written twice"
    covered: dict[int, int] = {}
    for first, last in ranges:
        for seq in range(first, last + 1):
            covered[seq] = covered.get(seq, 0) + 1
    for seq, result in by_seq.items():
        if answered[result] is None:
            assert covered.get(seq, 0) == 0, f"{result} answered 200 but recorded as 503"
        else:
            assert covered.get(seq, 0) == 1, f"{result} answered 503, in the log, not recorded"
    for result, failure in answered.items():
        if failure is None:
            assert result in by_seq.values()
    with Session(engine) as session:
        assert verify_audit_log(session, None, NOW).ok


def test_every_sequence_of_doubtful_groups_keeps_the_log_honest(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(db_engine, monkeypatch)
    group = GroupCommit(Register(db_engine))
    answered: dict[str, str | None] = {}
    counter = itertools.count()

    def commit(outcome: str) -> None:
        n = next(counter)
        results = [f"g{n}e{i}" for i in range(2)]
        faults.arm(outcome)
        try:
            failure = group._commit([NewEntry("api:x", "permit.verify", r, NOW) for r in results])
        finally:
            faults.disarm()
        for r in results:
            answered[r] = failure
        if failure is None:  # durable when answered
            logged = {r for _, _, r in _rows(db_engine)}
            assert set(results) <= logged, (outcome, results)

    sequences: list[tuple[str, ...]] = list(itertools.product(OUTCOMES, repeat=3))
    for sequence in sequences:
        for outcome in sequence:
            commit(outcome)
        commit("ok")
        assert group.in_doubt == 0, sequence

    _check_log(db_engine, answered)


class RandomFaults(Faults):
    """Each commit, check, look-up and append failing at random (seeded, one at a time:
    only the leader commits)."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
        super().__init__(engine, monkeypatch)
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.on = True  # off: no more faults

    def _roll(self, p: float) -> bool:
        with self.lock:
            return self.on and self.random.random() < p

    def do_commit(self, dbapi_connection: Any) -> None:
        if self._roll(0.3):
            self.commit_fault = self._roll(0.5)
        super().do_commit(dbapi_connection)

    def settle(self, *args: Any) -> bool:
        self.settle_down = self._roll(0.4)
        return super().settle(*args)

    def present(self, *args: Any) -> bool:
        self.present_down = self._roll(0.1)
        return super().present(*args)

    def append_many(self, *args: Any) -> Any:
        self.early = self._roll(0.1)
        return super().append_many(*args)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_threads_with_random_faults_keep_the_log_honest(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Callers on eight threads share groups while commits, checks and look-ups fail at
    random: every caller answered as committed is in the log (when answered), no entry is
    written twice, and each entry in the log whose caller got a 503 is recorded once."""
    faults = RandomFaults(db_engine, monkeypatch, seed)
    group = GroupCommit(Register(db_engine))
    answered: dict[str, str | None] = {}
    missing: list[str] = []

    def one(n: int) -> None:
        for i in range(20):
            result = f"t{n}e{i}"
            failures = group.append_all([NewEntry("api:x", "permit.verify", result, NOW)])
            answered[result] = failures[0]
            if failures[0] is None and result not in {r for _, _, r in _rows(db_engine)}:
                missing.append(result)

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(one, n) for n in range(8)]:
            future.result(timeout=120)
    faults.on = False
    group.append(NewEntry("api:x", "permit.verify", "last", NOW))
    answered["last"] = None
    assert group.in_doubt == 0 and missing == []
    _check_log(db_engine, answered)


def test_a_leader_interrupted_in_its_commit_hands_over_and_keeps_the_doubt(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader's thread is interrupted (KeyboardInterrupt, SystemExit: no Exception)
    while its COMMIT runs, after it landed: the interruption propagates in that thread,
    the caller queued meanwhile is still served (not left waiting for a leader that is
    gone, nor is every later caller), and the interrupted group stays in doubt until the
    next group records it."""
    group = GroupCommit(Register(db_engine))
    original = db_engine.dialect.do_commit
    queued, armed = threading.Event(), [True]

    def do_commit(dbapi_connection: Any) -> None:
        original(dbapi_connection)
        if armed and armed.pop():
            assert queued.wait(10)
            raise KeyboardInterrupt

    monkeypatch.setattr(db_engine.dialect, "do_commit", do_commit)
    follower: list[str | None] = []

    def follow() -> None:
        follower.extend(group.append_all([NewEntry("api:x", "permit.verify", "b", NOW)]))

    thread = threading.Thread(target=follow, daemon=True)
    leader_failed: list[BaseException] = []

    def lead() -> None:
        try:
            group.append(NewEntry("api:x", "permit.verify", "a", NOW))
        except BaseException as exc:  # the interruption, in its own thread
            leader_failed.append(exc)

    leader = threading.Thread(target=lead, daemon=True)
    leader.start()
    while not group._leading:  # the leader has its group and commits
        time.sleep(0.001)
    thread.start()
    while not group._queue:  # the follower waits for it
        time.sleep(0.001)
    queued.set()
    leader.join(10)
    thread.join(10)
    assert not leader.is_alive() and not thread.is_alive(), "a caller was left waiting"
    assert [type(e) for e in leader_failed] == [KeyboardInterrupt]
    assert follower == [None]
    group.append(NewEntry("api:x", "permit.verify", "c", NOW))  # no caller hangs after
    assert group.in_doubt == 0
    answered: dict[str, str | None] = {"a": "KeyboardInterrupt", "b": None, "c": None}
    _check_log(db_engine, answered)
    assert [r for _, _, r in _rows(db_engine)].count("a") == 1


class _InterruptedOnWaking(threading.Event):
    """A wake-up whose thread is interrupted the moment it is woken."""

    def wait(self, timeout: float | None = None) -> bool:
        super().wait(timeout)
        raise KeyboardInterrupt


def test_a_follower_interrupted_as_it_is_made_leader_hands_the_lead_on(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller waiting in the queue is interrupted just as the leader before it makes it
    the next leader: the lead goes on to the caller after it (before, nobody ever led
    again and every later caller waited forever), the interrupted caller's entry is not
    written, and later callers are served."""
    group = GroupCommit(Register(db_engine))
    original = db_engine.dialect.do_commit
    go, armed = threading.Event(), [True]

    def do_commit(dbapi_connection: Any) -> None:
        if armed and armed.pop():
            assert go.wait(10)
        original(dbapi_connection)

    monkeypatch.setattr(db_engine.dialect, "do_commit", do_commit)
    answers: dict[str, object] = {}

    def call(result: str) -> None:
        try:
            answers[result] = group.append_all([NewEntry("api:x", "permit.verify", result, NOW)])
        except BaseException as exc:  # the interruption, in its own thread
            answers[result] = type(exc)

    def start(result: str, queued: int) -> threading.Thread:
        thread = threading.Thread(target=call, args=(result,), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while len(group._queue) < queued and time.monotonic() < deadline:
            time.sleep(0.001)
        return thread

    leader = start("a", 0)
    while not group._leading:
        time.sleep(0.001)

    class Interrupted(auditing._Queued):
        def __init__(self, entries: list[NewEntry]) -> None:
            super().__init__(entries, _InterruptedOnWaking())

    monkeypatch.setattr(auditing, "_Queued", Interrupted)
    promoted = start("b", 1)  # first in the queue: the next leader
    monkeypatch.undo()
    monkeypatch.setattr(db_engine.dialect, "do_commit", do_commit)
    after = start("c", 2)
    go.set()
    for thread in (leader, promoted, after):
        thread.join(10)
    assert not after.is_alive(), "the caller after the interrupted one waits forever"
    assert answers == {"a": [None], "b": KeyboardInterrupt, "c": [None]}
    group.append(NewEntry("api:x", "permit.verify", "d", NOW))  # nobody hangs later
    assert [r for _, _, r in _rows(db_engine)] == ["a", "c", "d"]
    _check_log(db_engine, {"a": None, "c": None, "d": None})
