"""Look-ups: ``Register.permit_facts`` (what a verifier checks a presented record against, in
one query) and the read-only engine (``db.read_only``: on SQLite a look-up runs beside a
writer that holds the write lock instead of queueing behind it)."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import Engine, text

from card_service.register.db import read_only, transaction
from card_service.register.models import PermitState
from card_service.register.service import Register
from tests.dbfixtures import NOW
from tests.register.conftest import db_engine, db_url, postgres_database
from tests.register.helpers import digest, issue, make_register

__all__ = ["db_engine", "db_url", "postgres_database"]


def test_permit_facts(db_engine: Engine) -> None:
    register = make_register(db_engine)
    number = issue(register, 1)
    reader = Register(read_only(db_engine))
    assert reader.permit_facts("330106202699999999") is None
    facts = reader.permit_facts(number)
    assert facts is not None
    assert facts.state is PermitState.ISSUED and facts.issued_at == NOW
    assert facts.mso_digest == digest("mso" + number)
    assert facts.revocation_effective_at is None
    later = NOW + dt.timedelta(days=3)
    register.revoke(number, "stolen", later, "officer-1", NOW + dt.timedelta(days=1))
    revoked = reader.permit_facts(number)
    assert revoked is not None and revoked.state is PermitState.REVOKED
    assert revoked.revocation_effective_at == later
    assert revoked == reader.permit_facts(number)  # the same answer as the full view's
    view = reader.permit(number)
    assert (view.state, view.revocation_effective_at) == (revoked.state, later)


def test_a_look_up_does_not_queue_behind_a_writer(db_engine: Engine) -> None:
    register = make_register(db_engine)
    number = issue(register, 2)
    reader = Register(read_only(db_engine))
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:  # holds the write lock (SQLite: BEGIN IMMEDIATE) until released
        with transaction(db_engine) as session:
            session.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))
            holding.set()
            release.wait(timeout=60)

    answers: list[object] = []
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(timeout=30)
        # answered while the writer still holds its lock (a queued read would wait for it)
        look = threading.Thread(target=lambda: answers.append(reader.permit_facts(number)))
        look.start()
        look.join(timeout=20)
        assert not look.is_alive() and thread.is_alive()
        facts = answers[0]
        assert facts is not None and getattr(facts, "state", None) is PermitState.ISSUED
    finally:
        release.set()
        thread.join(timeout=30)
