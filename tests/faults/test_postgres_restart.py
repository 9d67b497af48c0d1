"""PostgreSQL pulled from under the service under load (issue 11, section 5, "Faults").

The service (``create_app`` over an office on a PostgreSQL the test starts itself) answers
concurrent relying-party verifications, and a counter verifies the card in its reader over
and over, while the test stops the server (and sends requests into the outage), starts it
again, and later restarts it (``pg_ctl restart -m fast``) with requests in flight.

The answers: every request is either VALID (200) or 503 ``register_unavailable``
(problem+json): never a 500, never another verdict caused by the outage.  By phase (the
database up, stopping, down, starting, up, restarting, up): a request sent and answered while
it is down is a 503, one sent and answered while it is up is VALID - after the outage the
same service reconnects without a restart; only a request that spans a transition may be
either.  ``/readyz`` fails while the database is down.  Nothing is lost: every VALID answer has its
audit entry (one client per request, so the entry's actor names the request), no request
has two, and the audit chain verifies.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from api.http import create_app
from api.http.deps import Limits
from card_service.audit.verify import verify_audit_log
from card_service.clients import ApiClient, Role
from card_service.office import AUDIT_PAGE_MAX, EphemeralOffice, ephemeral_office
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.faults.live import SCOPE, actor, authenticate, headers, live_server, problem_code
from tests.faults.postgres import PrivatePostgres
from tests.http.conftest import PKI, insert_blank

RELYING = 400  # relying-party verifications prepared (the load stops when it has enough)
WORKERS = 8  # of them in flight at once
SETTLED = 16  # requests answered in each settled phase before the next fault
OUTAGE_PROBES = 4  # verifications sent while the database is down

pytestmark = pytest.mark.slow


#: The phases of the database (even: settled; odd: a transition under way).
UP, STOPPING, DOWN, STARTING, UP_AGAIN, RESTARTING, UP_AFTER_RESTART = range(7)
SETTLED_UP = (UP, UP_AGAIN, UP_AFTER_RESTART)


@dataclass
class Answered:
    name: str
    status: int
    verdict: str | None
    code: str | None
    #: The database's phase when the request was sent and when its answer came.
    phases: tuple[int, int] = (UP, UP)


@dataclass
class Load:
    """Relying-party verifications (one prepared presentation each) from ``WORKERS`` threads,
    and a counter verifying the card in ``reader`` in a loop, until :meth:`finish`."""

    base: str
    reader: str
    bodies: dict[str, dict[str, str]]
    answers: list[Answered] = field(default_factory=list)
    counter: list[Answered] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    answered: threading.Condition = field(default_factory=threading.Condition)
    phase: int = UP
    unused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.unused = [n for n in self.bodies if n.startswith("load-")]

    def set_phase(self, phase: int) -> None:
        with self.answered:
            self.phase = phase
            self.answered.notify_all()

    def _next(self) -> tuple[str, int] | None:
        """The next presentation to send and the phase it is sent in; the load waits out
        the settled outage (the test's own probes go into it) so that it still runs when
        the database comes back and restarts."""
        with self.answered:
            self.answered.wait_for(lambda: self.phase != DOWN or self.done.is_set(), 120)
            if self.done.is_set() or not self.unused:
                return None
            return self.unused.pop(), self.phase

    def verify(self, client: httpx.Client, name: str, sent: int | None = None) -> Answered:
        sent = self.phase if sent is None else sent
        response = client.post(
            "/v1/verifications",
            json=self.bodies[name],
            headers=headers(Role.RELYING_PARTY, name),
        )
        return _answer(name, response, (sent, self.phase))

    def _relying(self) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as client:
            while (step := self._next()) is not None:
                answer = self.verify(client, *step)
                with self.answered:
                    self.answers.append(answer)
                    self.answered.notify_all()

    def _counter(self) -> None:
        path = f"/v1/readers/{quote(self.reader)}/verification"
        with httpx.Client(base_url=self.base, timeout=60) as client:
            index = 0
            while (step := self._next()) is not None:
                self.unused.append(step[0])  # a counter request spends no presentation
                name = f"clerk-{index}"
                response = client.post(path, headers=headers(Role.CLERK, name))
                self.counter.append(_answer(name, response, (step[1], self.phase)))
                index += 1

    def run(self, during: Callable[[Load], None]) -> None:
        threads = [threading.Thread(target=self._relying) for _ in range(WORKERS)]
        threads.append(threading.Thread(target=self._counter, name="fault-counter"))
        for thread in threads:
            thread.start()
        try:
            during(self)
        finally:
            self.finish()
            for thread in threads:
                thread.join(timeout=120)

    def finish(self) -> None:
        with self.answered:
            self.done.set()
            self.answered.notify_all()

    def wait_answered(self, count: int, phase: int) -> None:
        """Until ``count`` requests were sent and answered in ``phase``."""

        def enough() -> bool:
            return sum(1 for a in self.answers if a.phases == (phase, phase)) >= count

        with self.answered:
            assert self.answered.wait_for(enough, timeout=120), (phase, len(self.unused))


def _answer(name: str, response: httpx.Response, phases: tuple[int, int]) -> Answered:
    if response.status_code == 200:
        return Answered(name, 200, str(response.json()["verdict"]), None, phases)
    return Answered(name, response.status_code, None, problem_code(response), phases)


def _prepared(office: EphemeralOffice, reader: str, name: str) -> dict[str, str]:
    """A challenge for the client ``name`` and the card's presentation over it."""
    client = ApiClient(client_id=name, name=name, role=Role.RELYING_PARTY, scope=SCOPE)
    nonce = office.issue_challenge(client, NOW).nonce
    return office.present_card(reader, nonce, ["full_name"]).to_json()


def _audit(office: EphemeralOffice) -> dict[str, list[str]]:
    """The results of the ``permit.verify`` entries, by actor."""
    found: dict[str, list[str]] = {}
    after = 0
    while True:
        page = office.audit_entries(after=after, limit=AUDIT_PAGE_MAX)
        if not page:
            return found
        for entry in page:
            if entry.action == "permit.verify":
                found.setdefault(entry.actor, []).append(entry.result)
        after = page[-1].seq


def _assert_answers(answers: list[Answered], what: str) -> None:
    for answer in answers:
        sent, came = answer.phases
        if sent == came and sent in SETTLED_UP:
            assert (answer.status, answer.verdict) == (200, "VALID"), (what, answer)
        elif sent == came == DOWN:
            assert (answer.status, answer.code) == (503, "register_unavailable"), (what, answer)
        elif answer.status == 200:
            assert answer.verdict == "VALID", (what, answer)
        else:
            assert (answer.status, answer.code) == (503, "register_unavailable"), (what, answer)
    for phase in SETTLED_UP:  # the load ran through every phase of the database
        assert any(a.phases == (phase, phase) for a in answers), (what, phase)


def test_postgres_restarted_under_load(private_postgres: PrivatePostgres) -> None:
    office = ephemeral_office(NOW, url=private_postgres.url, pki=PKI)
    with office:
        reader = insert_blank(office)
        office.issue(synthetic_application(NOW, seed=5), reader, NOW)
        names = (
            [f"load-{i}" for i in range(RELYING)]
            + [f"outage-{i}" for i in range(OUTAGE_PROBES)]
            + ["after"]
        )
        bodies = {name: _prepared(office, reader, name) for name in names}
        # the clock is frozen: /readyz probes every time (no reuse window to wait out)
        app = create_app(
            office, authenticate=authenticate, now=lambda: NOW, limits=Limits(ready_cache=0.0)
        )
        outage: list[Answered] = []
        with live_server(app) as base, httpx.Client(base_url=base, timeout=60) as probe:
            load = Load(base, reader, bodies)

            def faults(load: Load) -> None:
                load.wait_answered(SETTLED, UP)
                load.set_phase(STOPPING)
                private_postgres.stop()  # with requests in flight
                load.set_phase(DOWN)
                # the database is down: every request now is a 503, never VALID
                for i in range(OUTAGE_PROBES):
                    outage.append(load.verify(probe, f"outage-{i}"))
                counter = probe.post(
                    f"/v1/readers/{quote(reader)}/verification",
                    headers=headers(Role.CLERK, "outage-clerk"),
                )
                outage.append(_answer("outage-clerk", counter, (DOWN, DOWN)))
                not_ready = probe.get("/readyz")
                assert not_ready.status_code == 503
                assert not_ready.json()["database"]["status"] == "failed"
                load.set_phase(STARTING)
                private_postgres.start()
                load.set_phase(UP_AGAIN)
                load.wait_answered(SETTLED, UP_AGAIN)
                load.set_phase(RESTARTING)
                private_postgres.restart()  # with requests in flight
                load.set_phase(UP_AFTER_RESTART)
                load.wait_answered(SETTLED, UP_AFTER_RESTART)

            load.run(faults)
            # a quiet restart: the pool's idle connections are all dead now, and the very
            # next requests of the same service (never restarted) are answered
            private_postgres.restart()
            after = load.verify(probe, "after", UP_AFTER_RESTART)
            assert (after.status, after.verdict) == (200, "VALID"), after
            counter = probe.post(
                f"/v1/readers/{quote(reader)}/verification",
                headers=headers(Role.CLERK, "clerk-after"),
            )
            assert (counter.status_code, counter.json()["verdict"]) == (200, "VALID")
            assert probe.get("/readyz").status_code == 200
        assert all((a.status, a.code) == (503, "register_unavailable") for a in outage), outage
        _assert_answers(load.answers, "relying")
        _assert_answers(load.counter, "counter")
        assert any(a.verdict == "VALID" for a in load.counter), load.counter

        audit = _audit(office)
        valid = [a for a in [*load.answers, *load.counter] if a.verdict == "VALID"]
        for answer in [*valid, after, Answered("clerk-after", 200, "VALID", None)]:
            role = Role.CLERK if answer.name.startswith("clerk-") else Role.RELYING_PARTY
            assert audit.get(actor(role, answer.name)) == ["passed"], answer
        # no request has two entries (a retried commit would show here)
        assert all(len(results) == 1 for results in audit.values()), audit
        # the whole hash chain (the ephemeral office has no audit signer: no checkpoints)
        with Session(office.engine) as session:
            report = verify_audit_log(session, office.trust_list(), NOW + dt.timedelta(seconds=1))
        assert report.ok and report.status == "ok", report
        assert report.entries_checked >= len(valid)
        failed = sum(1 for a in [*load.answers, *load.counter] if a.status == 503)
        print(
            f"postgres restart: {len(valid)} VALID, {failed} 503 under load, "
            f"{len(outage)} 503 in the outage, {len(load.counter)} counter verifications"
        )


class _FailingOnce:
    """A register look-up whose first call fails as a dropped database connection does."""

    def __init__(self, original: Callable[[Any], object]) -> None:
        self.original = original
        self.calls = 0

    def __call__(self, numbers: Any) -> object:
        self.calls += 1
        if self.calls == 1:
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        return self.original(numbers)


def test_the_register_failing_during_the_revocation_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race the restart test may hit, forced: the revocation look-up fails, the register
    answers again at once.  The answer is 503 ``register_unavailable`` (audited), never
    REVOKED for a permit that is valid."""
    office = ephemeral_office(NOW, pki=PKI)
    with office:
        reader = insert_blank(office)
        office.issue(synthetic_application(NOW, seed=6), reader, NOW)
        body = _prepared(office, reader, "bank")
        app = create_app(office, authenticate=authenticate, now=lambda: NOW)
        with live_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:
            registers = (office.reader_register(), office.station.register)
            for register in registers:  # the relying parties' one look-up (per batch)
                facts = _FailingOnce(register.permit_facts_each)
                monkeypatch.setattr(register, "permit_facts_each", facts)
            relying = client.post(
                "/v1/verifications", json=body, headers=headers(Role.RELYING_PARTY, "bank")
            )
            monkeypatch.undo()
            for register in registers:  # the counter's revocation look-up
                monkeypatch.setattr(register, "permit", _FailingOnce(register.permit))
            assert relying.status_code == 503 and problem_code(relying) == "register_unavailable"
            counter = client.post(
                f"/v1/readers/{quote(reader)}/verification", headers=headers(Role.CLERK, "desk")
            )
            assert counter.status_code == 503 and problem_code(counter) == "register_unavailable"
            monkeypatch.undo()
            again = client.post(
                f"/v1/readers/{quote(reader)}/verification", headers=headers(Role.CLERK, "desk")
            )
            assert again.json().get("verdict") == "VALID", again.text
        audit = _audit(office)
        assert audit[actor(Role.RELYING_PARTY, "bank")] == ["failed:register_unavailable"]
        assert audit[actor(Role.CLERK, "desk")] == ["failed:register_unavailable", "passed"]
