"""``views.permit_history``: the permit summary ``permit register show`` prints, from the
domain (the CLI assembled it itself before issue 10)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import Engine

from api.cli import register as register_cli
from card_service.register.errors import NotFound
from card_service.register.service import Register, effective_state
from card_service.register.views import PermitHistory, permit_history
from tests.dbfixtures import NOW

from .helpers import NAME_PREFIX, approved, digest, issue, make_register

KEYS = [
    "number",
    "state",
    "effective_state",
    "card_serial",
    "issue_date",
    "years_of_residence",
    "residence_counted_from",
    "covered_until",
    "next_due",
    "window_opens",
    "replaces_permit",
    "revocation_reason",
]


def cli_summary(register: Register, number: str, now: dt.datetime) -> dict[str, Any]:
    """What ``api/cli/register.py`` assembled before ``permit_history`` existed (the oracle)."""
    view = register.permit(number)
    status = register.endorsement_status(number, now)
    return {
        "number": view.number,
        "state": view.state.value,
        "effective_state": effective_state(view, now),
        "card_serial": view.card_serial,
        "issue_date": view.issue_date.isoformat(),
        "years_of_residence": status.years_of_residence,
        "residence_counted_from": status.counted_from.isoformat(),
        "covered_until": status.covered_until.isoformat(),
        "next_due": status.next_due.isoformat(),
        "window_opens": status.window_opens.isoformat(),
        "replaces_permit": view.replaces_permit,
        "revocation_reason": view.revocation_reason,
    }


def _permits(register: Register) -> dict[str, str]:
    """One permit in each interesting state; name -> permit number."""
    out = {"issued": issue(register, 1)}
    reservation = register.reserve_permit(approved(register, 2), "CARD-RESERVED", NOW)
    out["reserved"] = reservation.permit_number
    abandoned = register.reserve_permit(approved(register, 3), "CARD-ABANDONED", NOW)
    register.abandon(abandoned.permit_number, "card_removed", NOW)
    out["abandoned"] = abandoned.permit_number
    out["revoked_later"] = issue(register, 4)
    register.revoke(out["revoked_later"], "lost", NOW + dt.timedelta(days=30), "o", NOW)
    # late endorsement, then replaced: continuity carries over
    late = issue(register, 5)
    when = NOW + dt.timedelta(days=800)
    register.record_endorsement(late, when)
    replacement = register.replace(late, "damaged", "CARD-NEW", "o", when)
    register.mark_issued(replacement.permit_number, digest("m2"), digest("r2"), when)
    out["replaced"], out["replacement"] = late, replacement.permit_number
    return out


@pytest.mark.parametrize("days", [0, 40, 400, 900])
def test_to_json_is_exactly_what_the_cli_printed(db_engine: Engine, days: int) -> None:
    register = make_register(db_engine)
    now = NOW + dt.timedelta(days=days)
    for name, number in _permits(register).items():
        history = permit_history(register, number, now)
        assert isinstance(history, PermitHistory)
        summary = history.to_json()
        assert summary == cli_summary(register, number, now), name
        assert list(summary) == KEYS  # the CLI prints them in this order
        json.dumps(summary)  # JSON-ready as is


def test_states_and_history(db_engine: Engine) -> None:
    register = make_register(db_engine)
    permits = _permits(register)
    later = NOW + dt.timedelta(days=900)
    states = {
        name: permit_history(register, n, later).effective_state for name, n in permits.items()
    }
    assert states["reserved"] == "RESERVED" and states["abandoned"] == "ABANDONED"
    assert states["revoked_later"] == "REVOKED" and states["replaced"] == "REVOKED"
    soon = permit_history(register, permits["revoked_later"], NOW + dt.timedelta(days=1))
    assert soon.state == "REVOKED" and soon.effective_state == "ISSUED"  # not yet effective
    new = permit_history(register, permits["replacement"], later)
    assert new.replaces_permit == permits["replaced"]
    old = permit_history(register, permits["replaced"], later)
    assert old.revocation_reason == "replaced" and len(old.endorsements) == 1
    assert old.endorsements[0].late
    assert "endorsements" not in old.to_json()  # carried, not printed


def test_no_such_permit(db_engine: Engine) -> None:
    with pytest.raises(NotFound):
        permit_history(make_register(db_engine), "330106202699999990", NOW)


def test_frozen_and_no_personal_data(db_engine: Engine) -> None:
    register = make_register(db_engine)
    history = permit_history(register, issue(register, 1), NOW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        history.state = "REVOKED"  # type: ignore[misc]
    assert NAME_PREFIX not in repr(history) and NAME_PREFIX not in json.dumps(history.to_json())


def test_default_now_matches_the_cli(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``now`` it is the current time, as ``permit register show`` uses."""
    monkeypatch.setenv("PERMIT_DATABASE_URL", db_url)
    from card_service.migrations import upgrade
    from card_service.register.db import make_engine

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        register = make_register(engine)
        number = issue(register, 1)
        expected = permit_history(register, number).to_json()
    finally:
        engine.dispose()
    parser = argparse.ArgumentParser(prog="permit")
    register_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["register", "show", number, "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out) == expected
