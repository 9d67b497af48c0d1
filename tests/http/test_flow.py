"""Officer and counter routes end to end on simulated cards: an application, an issuance
with live progress, the counter's verification with the clerk's view, revocation."""

from __future__ import annotations

import base64
import datetime as dt
import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.http import create_app
from card_service.clients import Role
from card_service.office import EphemeralOffice
from tests.dbfixtures import NOW
from tests.http.conftest import (
    application_body,
    assert_problem,
    auth,
    fake_authenticate,
    insert_blank,
    sse_events,
)

OFFICER, CLERK = auth(Role.OFFICER), auth(Role.CLERK)
JSON = {"Content-Type": "application/json"}


def _issue(client: TestClient, reader: str, seed: int = 1) -> list[tuple[str, dict]]:
    response = client.post(
        f"/v1/readers/{quote(reader)}/issuance",
        content=application_body(seed),
        headers={**OFFICER, **JSON},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    return sse_events(response.text)


def test_application_decision(client: TestClient) -> None:
    response = client.post(
        "/v1/applications", content=application_body(7), headers={**OFFICER, **JSON}
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["approved"] is True and decision["reasons"] == []
    assert decision["application_id"] >= 1


def test_invalid_application_names_the_field_not_the_value(client: TestClient) -> None:
    document = json.loads(application_body(8))
    document["applicant"]["birth_date"] = "SECRET-1980-99-99"
    response = client.post("/v1/applications", json=document, headers=OFFICER)
    body = assert_problem(response, 422)
    assert "SECRET" not in response.text and body["kind"] == "invalid"


def test_issue_verify_revoke(office: EphemeralOffice, client: TestClient) -> None:
    reader = insert_blank(office)
    listed = client.get("/v1/readers", headers=CLERK).json()
    assert [r["card_present"] for r in listed] == [True, False]

    events = _issue(client, reader)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "result" and set(kinds[:-1]) == {"progress"}
    steps = [
        data["step"] for kind, data in events if kind == "progress" and data["status"] == "started"
    ]
    assert steps[0] == "reserve" and "write" in steps and steps[-1] == "confirm"
    result = events[-1][1]
    number = result["permit_number"]
    assert result["pin_letter"]["pin"] and result["pin_letter"]["puk"]

    check = client.post(f"/v1/readers/{quote(reader)}/verification", headers=CLERK)
    assert check.status_code == 200, check.text
    verdict = check.json()
    assert verdict["verdict"] == "VALID" and verdict["passed"] and verdict["reasons"] == []
    clerk = verdict["clerk"]
    assert clerk["permit_number"] == number
    assert clerk["full_name"]
    assert clerk["portrait"].startswith("data:image/jpeg;base64,")
    assert base64.b64decode(clerk["portrait"].split(",", 1)[1])[:2] == b"\xff\xd8"
    assert clerk["valid_from"] < clerk["valid_until"]
    assert clerk["next_endorsement_due"] and clerk["years_of_residence"] is not None

    # the holder applies again: recorded, and refused with its reasons
    again = client.post(
        "/v1/applications", content=application_body(1), headers={**OFFICER, **JSON}
    )
    assert again.status_code == 201
    assert again.json()["approved"] is False and again.json()["reasons"]

    looked_up = client.get(f"/v1/permits/{number}", headers=OFFICER)
    assert looked_up.status_code == 200
    assert looked_up.json()["state"] == "ISSUED" and looked_up.json()["endorsements"] == []

    not_due = client.post(f"/v1/readers/{quote(reader)}/endorsement", headers=OFFICER)
    assert_problem(not_due, 422, "not_due")

    revoked = client.post(
        f"/v1/permits/{number}/revocation", json={"reason": "lost"}, headers=OFFICER
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "REVOKED" and revoked.json()["reason"] == "lost"
    again = client.post(
        f"/v1/permits/{number}/revocation", json={"reason": "lost"}, headers=OFFICER
    )
    assert again.status_code == 409

    # the clock moves on past the revocation instant
    later = create_app(
        office, authenticate=fake_authenticate, now=lambda: NOW + dt.timedelta(seconds=1)
    )
    with TestClient(later) as after:
        check = after.post(f"/v1/readers/{quote(reader)}/verification", headers=CLERK).json()
        assert check["verdict"] == "REVOKED" and not check["passed"]
        assert "register_revoked" in check["reasons"] and check["clerk"] is None
        history = after.get(f"/v1/permits/{number}", headers=OFFICER).json()
        assert history["effective_state"] == "REVOKED"


def test_issue_refusals_are_problems_before_the_stream(
    office: EphemeralOffice, client: TestClient
) -> None:
    empty = client.post(
        "/v1/readers/Permit%20Sim%20Reader%201/issuance",
        content=application_body(2),
        headers={**OFFICER, **JSON},
    )
    assert_problem(empty, 409, "no_card")  # the reader's state, not an outage
    missing = client.post(
        "/v1/readers/No%20Such%20Reader/issuance",
        content=application_body(2),
        headers={**OFFICER, **JSON},
    )
    assert_problem(missing, 404)


def test_a_failure_during_issuance_is_the_stream_s_error_event(
    office: EphemeralOffice, client: TestClient
) -> None:
    first = insert_blank(office, 0)
    _issue(client, first, seed=3)
    second = insert_blank(office, 1)
    events = _issue(client, second, seed=3)  # the same person again: the register refuses
    kind, problem = events[-1]
    assert kind == "error"
    assert problem["type"] == f"urn:permit:problem:{problem['code']}"
    assert (problem["code"], problem["status"], problem["kind"]) == (
        "application_rejected",
        422,
        "refused",
    )
    assert problem["reasons"] == ["active_permit_exists"]


def test_replace_streams_a_new_permit(office: EphemeralOffice, client: TestClient) -> None:
    first = insert_blank(office, 0)
    number = _issue(client, first, seed=4)[-1][1]["permit_number"]
    office.station.driver.remove(0)  # type: ignore[attr-defined]
    second = insert_blank(office, 1)
    response = client.post(
        f"/v1/permits/{number}/replacement",
        params={"reader": second, "reason": "lost"},
        content=application_body(4),
        headers={**OFFICER, **JSON},
    )
    assert response.status_code == 200, response.text
    kind, result = sse_events(response.text)[-1]
    assert kind == "result", result
    assert result["replaced_permit"] == number and result["permit_number"] != number


def test_card_routes_answer_no_readers_without_readers(
    office: EphemeralOffice, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A central instance (no readers, or no reader transport at all) offers no card route."""
    from reader_drivers.errors import CommunicationError

    monkeypatch.setattr(office, "readers", lambda driver=None: [])
    response = client.post("/v1/readers/Any/verification", headers=CLERK)
    assert_problem(response, 503, "no_readers")
    assert client.get("/v1/readers", headers=CLERK).json() == []

    def no_pcscd(driver: object = None) -> list[object]:
        raise CommunicationError("", "the PC/SC service is not running")

    monkeypatch.setattr(office, "readers", no_pcscd)
    response = client.post("/v1/readers/Any/endorsement", headers=OFFICER)
    assert_problem(response, 503, "no_readers")
