"""A card pulled in the middle of a counter verification and of an issuance, through HTTP
(issue 11, section 5, "Faults").

The simulator cuts the card's power at the k-th APDU (``simulators.faults``; the in-process
driver makes that look like a pulled card), for every k of the operation (measured first)
and each tear phase (before the command's first write, after it, after all of it):

* counter verification: 409 ``card_removed`` (problem+json), the attempt in the audit log
  (``failed:card_removed``), the card and the register unchanged: back in the reader it
  verifies VALID;
* issuance (the server-sent event stream): the stream's ``error`` event is a 409 problem
  (``card_failed``: the register rolled back; ``lock_pending``: the permit is issued, only
  the card's lock is unconfirmed), never a ``result``; then no RESERVED permit is left, a
  card verifies VALID at the counter exactly when the register holds its permit ISSUED, and a
  retry of the same application on the same card (after the start-up reconciliation for a
  pending lock) completes it: one ISSUED permit, its card VALID, with a PIN letter (a new
  one when the card was pulled at the lock: the first was never shown) unless the card was
  already locked.  At the end every permit
  has its audit trail and the audit chain verifies.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import Session

from api.http import create_app
from card_service.audit.verify import verify_audit_log
from card_service.card.errors import WrongPin
from card_service.card.session import PermitCardSession
from card_service.card.wire import LifeCycle
from card_service.clients import Role
from card_service.office import AUDIT_PAGE_MAX, EphemeralOffice, ephemeral_office
from card_service.register.models import Permit, PermitState
from card_service.workflows.application import synthetic_application
from simulators.card import SimulatedCard
from simulators.metered import MeteredCard
from tests.dbfixtures import NOW
from tests.faults.live import actor, authenticate, headers, live_server, problem_code
from tests.http.conftest import PKI, insert_blank, sse_events
from tests.secretlog import SecretLog, card_secrets

PHASES = ("before", "mid", "after")
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def served() -> Iterator[tuple[EphemeralOffice, httpx.Client]]:
    office = ephemeral_office(NOW, pki=PKI)
    app = create_app(office, authenticate=authenticate, now=lambda: NOW)
    with office, live_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield office, client


def _driver(office: EphemeralOffice) -> Any:
    return office.station.driver


def _verify(client: httpx.Client, reader: str, name: str) -> httpx.Response:
    return client.post(
        f"/v1/readers/{quote(reader)}/verification", headers=headers(Role.CLERK, name)
    )


def _issue(
    client: httpx.Client, reader: str, seed: int, application_id: int | None = None
) -> list[tuple[str, Any]]:
    body = json.dumps(synthetic_application(NOW, seed=seed).to_json())
    response = client.post(
        f"/v1/readers/{quote(reader)}/issuance",
        content=body,
        params={} if application_id is None else {"application_id": application_id},
        headers={**headers(Role.OFFICER, "desk"), **JSON},
    )
    assert response.status_code == 200, response.text
    return sse_events(response.text)


def _reinsert(office: EphemeralOffice, card: Any) -> None:
    """The clerk pulls the card out and puts it back."""
    _driver(office).remove(0)
    _driver(office).insert(0, card)


def _measure(office: EphemeralOffice, card: SimulatedCard, operation: Any) -> int:
    """The APDUs ``operation()`` sends to ``card`` (in slot 0), counted."""
    metered = MeteredCard(card)
    _driver(office).remove(0)
    _driver(office).insert(0, metered)
    try:
        operation()
    finally:
        _driver(office).remove(0)
        _driver(office).insert(0, card)
    return int(metered.count)


def _audit(office: EphemeralOffice) -> list[Any]:
    entries: list[Any] = []
    while page := office.audit_entries(after=entries[-1].seq if entries else 0, limit=100):
        entries.extend(page)
        assert len(page) <= AUDIT_PAGE_MAX
    return entries


def _chain_ok(office: EphemeralOffice) -> None:
    with Session(office.engine) as session:
        report = verify_audit_log(session, office.trust_list(), NOW + dt.timedelta(seconds=1))
    assert report.ok and report.status == "ok", report


def _permits(office: EphemeralOffice) -> list[Permit]:
    with Session(office.engine) as session:
        return list(session.execute(select(Permit)).scalars())


def test_card_pulled_during_a_counter_verification(
    served: tuple[EphemeralOffice, httpx.Client],
) -> None:
    office, client = served
    reader = insert_blank(office)
    office.issue(synthetic_application(NOW, seed=1), reader, NOW)
    card = _driver(office).card_in(0)
    before = [(p.number, p.state, p.card_locked_at) for p in _permits(office)]
    n = _measure(office, card, lambda: _verify(client, reader, "measure").raise_for_status())
    assert 3 <= n <= 50, n
    torn, again_ok = [], []
    for index, (k, phase) in enumerate(itertools.product(range(1, n + 1), PHASES)):
        card.faults.cut_power(after_apdus=k, phase=phase)
        response = _verify(client, reader, f"torn-{index}")
        card.faults.clear()
        assert response.status_code == 409, (k, phase, response.text)
        assert problem_code(response) == "card_removed"
        assert "VALID" not in response.text
        torn.append(actor(Role.CLERK, f"torn-{index}"))
        _reinsert(office, card)
        again = _verify(client, reader, f"again-{index}")
        assert again.status_code == 200 and again.json()["verdict"] == "VALID", (k, phase)
        again_ok.append(actor(Role.CLERK, f"again-{index}"))
    results = {e.actor: e.result for e in _audit(office) if e.action == "permit.verify"}
    assert all(results[who] == "failed:card_removed" for who in torn)
    assert all(results[who] == "passed" for who in again_ok)
    # a verification changes nothing in the register
    assert [(p.number, p.state, p.card_locked_at) for p in _permits(office)] == before
    _chain_ok(office)


def test_card_pulled_during_an_issuance(served: tuple[EphemeralOffice, httpx.Client]) -> None:
    office, client = served
    reader = insert_blank(office)
    first = _driver(office).card_in(0)
    n = _measure(office, first, lambda: _issue(client, reader, seed=100))
    assert 15 <= n <= 200, n
    outcomes: dict[str, int] = {}
    for index, (k, phase) in enumerate(itertools.product(range(1, n + 1), PHASES)):
        seed = 200 + index
        _driver(office).remove(0)
        insert_blank(office)  # a new card for each new application
        card = _driver(office).card_in(0)
        card.faults.cut_power(after_apdus=k, phase=phase)
        events = _issue(client, reader, seed)
        card.faults.clear()
        kind, problem = events[-1]
        assert kind == "error", (k, phase, events[-1])
        assert problem["status"] == 409 and problem["kind"] == "conflict", (k, phase, problem)
        assert problem["code"] in ("card_failed", "lock_pending"), (k, phase, problem)
        assert problem["type"] == f"urn:permit:problem:{problem['code']}"
        outcomes[problem["code"]] = outcomes.get(problem["code"], 0) + 1
        _reinsert(office, card)
        _check_card_against_register(office, client, reader, f"{index}-torn")
        letter_lost = False
        if problem["code"] == "lock_pending":
            # what `permit serve` runs at start-up: the card is at hand; a locked card is
            # confirmed, an unlocked one waits for the officer's resume (new PIN letter)
            actions = [o.action for o in office.reconcile(NOW)]
            assert len(actions) == 1, actions
            assert actions[0] in ("confirmed_pin_letter_lost", "lock_pending_new_pin_letter")
            letter_lost = actions[0] == "confirmed_pin_letter_lost"  # its PIN cannot be reset
        # the same application again (the problem names it), on the same card: completed
        retried = _issue(client, reader, seed, problem["application_id"])
        assert retried[-1][0] == "result", (k, phase, retried[-1])
        number = retried[-1][1]["permit_number"]
        # a PIN letter unless the card was locked before the retry (then it cannot be reset)
        assert (retried[-1][1]["pin_letter"] is None) is letter_lost, (k, phase)
        check = _verify(client, reader, f"{index}-retried").json()
        assert (check["verdict"], check["permit_number"]) == ("VALID", number), (k, phase)
        _check_card_against_register(office, client, reader, f"{index}-after")
    assert set(outcomes) == {"card_failed", "lock_pending"}, outcomes
    permits = _permits(office)
    assert not [p for p in permits if p.state == PermitState.RESERVED]
    issued = [p for p in permits if p.state == PermitState.ISSUED]
    assert len(issued) == 1 + n * len(PHASES)  # the measured one and one per application
    assert all(p.card_locked_at is not None for p in issued)
    trail: dict[str | None, set[str]] = {}
    for entry in _audit(office):
        trail.setdefault(entry.permit_number, set()).add(entry.action)
    for permit in permits:
        if permit.state == PermitState.ISSUED:
            assert {"permit.reserve", "permit.issue", "card.lock"} <= trail[permit.number]
        else:
            assert permit.state == PermitState.ABANDONED
            assert {"permit.reserve", "permit.abandon"} <= trail[permit.number]
    _chain_ok(office)
    print(f"issuance: N={n} APDUs, outcomes {outcomes}")


def _check_card_against_register(
    office: EphemeralOffice, client: httpx.Client, reader: str, name: str
) -> None:
    """The card in ``reader`` verifies VALID at the counter exactly when the register holds
    its permit ISSUED with its lock confirmed (a half-written card never does)."""
    answer = _verify(client, reader, name)
    assert answer.status_code == 200, answer.text
    check = answer.json()
    serial = check["card_serial"]
    live = [
        p
        for p in _permits(office)
        if p.card_serial == serial and p.state in (PermitState.ISSUED, PermitState.RESERVED)
    ]
    assert not [p for p in live if p.state == PermitState.RESERVED], live
    if check["verdict"] == "VALID":
        assert [p.number for p in live] == [check["permit_number"]]
    else:
        assert check["card_condition"] != "issued" or not live, check
        assert all(p.card_locked_at is None for p in live)


def test_card_pulled_at_the_lock_step_resume_shows_a_new_pin_letter(
    served: tuple[EphemeralOffice, httpx.Client], secret_log: SecretLog
) -> None:
    """The card is pulled at the lock (the issuance's last APDU): the problem is
    ``lock_pending`` and no PIN letter was shown; start-up reconciliation does not lock the
    card; the officer's resume (the same application, the card back) answers a ``result``
    with a new PIN letter, which the card accepts (VERIFY), the first PIN it does not; the
    audit trail has ``card.pin_reset`` without the PIN; no PIN or PUK in the logs."""
    office, client = served
    secret_log.secret("master_key", office.station.master_key)
    reader = insert_blank(office)
    n = _measure(office, _driver(office).card_in(0), lambda: _issue(client, reader, seed=7))
    _driver(office).remove(0)
    insert_blank(office)
    card = _driver(office).card_in(0)
    card.faults.cut_power(after_apdus=n, phase="before")  # the lock (SET STATUS ISSUED)
    events = _issue(client, reader, seed=8)
    card.faults.clear()
    kind, problem = events[-1]
    assert (kind, problem["code"]) == ("error", "lock_pending"), events[-1]
    assert not [e for e in events if e[0] == "result"]
    first_pin = card._store.state.pin  # the block of the PIN nobody saw
    _reinsert(office, card)
    outcomes = office.reconcile(NOW)
    assert [(o.action, o.application_id) for o in outcomes] == [
        ("lock_pending_new_pin_letter", problem["application_id"])
    ]
    assert card.life_cycle is LifeCycle.PERSONALISING
    _check_card_against_register(office, client, reader, "waiting")
    retried = _issue(client, reader, seed=8, application_id=problem["application_id"])
    kind, issued = retried[-1]
    assert kind == "result" and issued["resumed"] is True, retried[-1]
    letter = issued["pin_letter"]
    assert letter is not None and len(letter["pin"]) == 6 and len(letter["puk"]) == 8
    assert card._store.state.pin != first_pin
    check = _verify(client, reader, "resumed").json()
    assert (check["verdict"], check["permit_number"]) == ("VALID", issued["permit_number"])
    conn = _driver(office).connect(reader)
    try:
        session = PermitCardSession(conn)
        session.select()
        with pytest.raises(WrongPin):
            session.verify_pin(_digits(first_pin))
        session.verify_pin(letter["pin"])
    finally:
        conn.disconnect()
    trail = [e for e in _audit(office) if e.permit_number == issued["permit_number"]]
    resets = [e for e in trail if e.action == "card.pin_reset"]
    assert [e.result for e in resets] == ["ok"]
    for entry in trail:
        text = f"{entry.actor} {entry.action} {entry.result}"
        assert letter["pin"] not in text and letter["puk"] not in text
    _chain_ok(office)
    card_secrets(secret_log, card)
    secret_log.assert_clean(require=["pin", "puk", "pin_block", "card_pin"])


def _digits(block: bytes) -> str:
    """The PIN in a card's FF-padded PIN block (the simulator's state)."""
    return block.rstrip(b"\xff").decode()
