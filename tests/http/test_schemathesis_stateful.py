"""schemathesis, stateful: sequences of calls that follow the document's OpenAPI links.

A challenge's nonce is spent by a presentation, a new client is expired and revoked, a
listed reader's card is verified and its permit looked up, revoked and its status asked
(api/http/links.py).  Each call is authenticated with a key of a role the route admits; no
answer may be a 5xx or outside the documented responses, and schemathesis's stateful checks
run too (a resource a link reaches right after it was created must be there; a key the
route ignores would be ``ignored_auth``).  Each scenario calls an office of its own (the
replay of a scenario must meet the state its first run met: ``_Calls``) that holds two issued
cards and a blank one, so links reach real permits; its rate limits are raised (the clock
stands still here, so a limit's window never ends; tests/http/test_relying.py covers 429).

The presentation's record is fuzzed as CBOR (tests/http/cbor_fuzz.py).  The run must have
chained a challenge into a verification: a nonce a challenge issued, spent (``consumed``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import settings
from schemathesis import Case
from schemathesis.checks import CheckFunction
from schemathesis.core.transport import Response
from schemathesis.generation.stateful.state_machine import StepInput
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from api.http import Limits, create_app
from api.http.openapi import api_routes, declared_roles
from card_service.clients import ApiClient, Role, Unauthenticated
from card_service.office import EphemeralOffice, Sandbox, Settings
from card_service.record.data import ELEMENT_TYPES
from card_service.workflows.application import synthetic_application
from reader_drivers.sim import SimReaderDriver
from tests.dbfixtures import NOW
from tests.http import cbor_fuzz
from tests.http.conftest import CLIENTS, KEYS, PKI, auth, insert_blank

#: As in tests/http/test_schemathesis.py (why: there).
EXCLUDED: list[CheckFunction] = [positive_data_acceptance, negative_data_rejection]
UNLIMITED = "default=1000000/60,status=1000000/60,challenges=1000000/60"
#: The relying party may receive every element, so a presentation reaches the verifier.
_BANK = ApiClient("client-bank", "bank", Role.RELYING_PARTY, frozenset(ELEMENT_TYPES))


def _authenticate(key: str, now: Any) -> ApiClient:
    if key == KEYS[Role.RELYING_PARTY]:
        return _BANK
    try:
        return CLIENTS[key]
    except KeyError:
        raise Unauthenticated("unknown, expired or revoked API key") from None


#: The two issued cards' applications (made once: a portrait takes a while, and every
#: scenario's office issues them).
_APPLICATIONS = tuple(synthetic_application(NOW, seed=seed) for seed in (41, 42))


def _office() -> EphemeralOffice:
    """Three readers: two issued cards, one blank."""
    temporary = Path(tempfile.mkdtemp(prefix="permit-stateful-"))
    station = Sandbox.create(
        f"sqlite:///{temporary / 'register.db'}", SimReaderDriver(slots=3), NOW, pki=PKI
    )
    office = EphemeralOffice(station, Settings(rate_limits_text=UNLIMITED), temporary=temporary)
    for slot, application in enumerate(_APPLICATIONS):
        office.issue(application, insert_blank(office, slot), NOW)
    insert_blank(office, 2)
    return office


def _service(office: EphemeralOffice) -> FastAPI:
    return create_app(
        office, authenticate=_authenticate, now=lambda: NOW, limits=Limits(event_stream=0.3)
    )


#: The document's app: the schema is read from it, no step calls it (each example calls its
#: own, :meth:`_Calls.setup`).
_OFFICE = _office()
SERVICE = _service(_OFFICE)
cbor_fuzz.register()
schema = schemathesis.openapi.from_asgi("/openapi.json", SERVICE)


@pytest.fixture(scope="module", autouse=True)
def _close_office() -> Iterator[None]:
    yield
    _OFFICE.close()


def _role_for(method: str, path: str) -> Role | None:
    for info in api_routes(SERVICE):
        if info.path == path and method.upper() in info.methods:
            roles = declared_roles(info.route)
            return next((r for r in Role if roles and r.value in roles), None)
    return None


#: What the run did with challenges: the nonces answered by ``POST /v1/challenges`` and,
#: per ``POST /v1/verifications``, its body's nonce, status and ``challenge`` outcome.
ISSUED: set[str] = set()
SPENT: list[tuple[str | None, int, str | None]] = []


def _json(response: Response) -> Any:
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return None


class _Calls:
    """Each call with a key of a role the route admits; the stateless test's exclusions.
    Records the challenges issued and the nonces verifications spent.

    Each hypothesis example (one scenario) calls a fresh office and app of its own, made in
    :meth:`setup` and closed in :meth:`teardown`.  Hypothesis replays a scenario's choices
    (to find new ones, to shrink, from its database) and expects the same rules to be valid
    each time; a rule whose link is followed is valid only if its bundle holds a response of
    the link's status, so the answers must not depend on what earlier scenarios did.  On one
    shared office they did (a permit revoked, the blank card issued onto, a client revoked by
    an earlier scenario answers 409 or 404 where it answered 200): a bundle the first run
    filled was empty on the replay, ``FlakyStrategyDefinition``."""

    recorder: Any
    office: EphemeralOffice
    app: FastAPI

    def setup(self) -> None:
        self.office = _office()
        self.app = _service(self.office)

    def teardown(self) -> None:
        self.office.close()

    def after_call(self, response: Response, case: Case[Any]) -> None:
        # The recorder keeps the answer (the stateful checks and a failure's report read it).
        super().after_call(response, case)  # type: ignore[misc]
        answer = _json(response)
        if (case.method.upper(), case.path) == _CHALLENGE:
            if response.status_code == 201 and isinstance(answer, dict):
                ISSUED.add(str(answer.get("nonce")))
        elif (case.method.upper(), case.path) == _VERIFY:
            body = case.body if isinstance(case.body, dict) else {}
            nonce = body.get("nonce")
            outcome = answer.get("challenge") if isinstance(answer, dict) else None
            SPENT.append((nonce if isinstance(nonce, str) else None, response.status_code, outcome))

    def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
        role = _role_for(case.method, case.path)
        # ``app``: this example's service, for the call and for the stateful checks' own
        # calls (they reuse these transport arguments).
        return {"headers": auth(role) if role is not None else {}, "app": self.app}

    def validate_response(
        self, response: Response, case: Case[Any], additional_checks: Any = None, **kwargs: Any
    ) -> None:
        case.validate_response(
            response,
            additional_checks=additional_checks,
            excluded_checks=EXCLUDED,
            headers=kwargs.get("headers"),
            transport_kwargs=kwargs or None,
            recorder=self.recorder,
        )


_CHALLENGE, _VERIFY = ("POST", "/v1/challenges"), ("POST", "/v1/verifications")


class Stateful(_Calls, schema.as_state_machine()):  # type: ignore[misc]
    """Every operation, following every link."""


_RELYING = schema.include(path=[_CHALLENGE[1], _VERIFY[1]], method="POST")


class ChallengeChain(_Calls, _RELYING.as_state_machine()):  # type: ignore[misc]
    """The relying party's two operations only: the link between them is followed often."""


def test_the_record_field_is_fuzzed_as_cbor() -> None:
    """The presentation's record is declared ``base64url-cbor`` in the document (what the
    registered strategy above generates)."""
    document = SERVICE.openapi()
    body = document["components"]["schemas"]["PresentationBody"]["properties"]["record"]
    assert body["format"] == cbor_fuzz.RECORD_FORMAT


def test_links_are_followed_statefully() -> None:
    Stateful.run(settings=settings(max_examples=60, stateful_step_count=8, deadline=None))


def _verify_and_revoke(machine: Stateful) -> list[int]:
    """One scenario's steps, as the state machine runs them: verify the card in the first
    reader, revoke the permit it holds.  The statuses answered."""
    statuses = []

    def step(path: str, method: str, **parts: Any) -> Any:
        case = schema[path][method].Case(**parts)
        machine.recorder.record_case(case=case)
        output = machine.step(StepInput.initial(case))
        statuses.append(output.response.status_code)
        return _json(output.response)

    try:
        reader = step("/v1/readers", "GET")[0]["name"]
        read = step("/v1/readers/{reader}/verification", "POST", path_parameters={"reader": reader})
        number = read["permit_number"]
        step(
            "/v1/permits/{number}/revocation",
            "POST",
            path_parameters={"number": number},
            body={"reason": "lost"},
        )
    finally:
        machine.teardown()
    return statuses


def test_a_scenario_meets_an_office_no_earlier_scenario_changed() -> None:
    """Hypothesis replays a scenario and expects it to answer as it did: two scenarios that
    revoke the same card's permit both get 200 (on an office shared by the scenarios, the
    second got 409, the revocation's bundle stayed empty and the run was
    ``FlakyStrategyDefinition``)."""
    first = _verify_and_revoke(Stateful())
    second = _verify_and_revoke(Stateful())
    assert first == [200, 200, 200]
    assert second == first


def test_the_stateful_checks_see_each_steps_answer() -> None:
    """The scenario's recorder holds every answer: schemathesis's stateful checks (a resource
    a link reaches must be there) look the source's answer up there, and skip without it."""
    machine = Stateful()
    try:
        case = schema["/v1/readers"]["GET"].Case()
        machine.recorder.record_case(case=case)
        output = machine.step(StepInput.initial(case))
        recorded = machine.recorder.interactions[case.id].response
        assert recorded is not None and recorded.status_code == output.response.status_code
    finally:
        machine.teardown()


def test_a_challenge_chains_into_a_verification() -> None:
    """The ``VerifyPresentation`` link is followed: a verification spent a nonce that a
    challenge of the run had just issued, and the shared store took it as that challenge's
    (``consumed``), not as unknown.  (A link whose body expression names another field
    leaves only unknown nonces: this test fails.)"""
    ISSUED.clear()
    SPENT.clear()
    ChallengeChain.run(settings=settings(max_examples=30, stateful_step_count=6, deadline=None))
    chained = [(status, outcome) for nonce, status, outcome in SPENT if nonce in ISSUED]
    assert chained, (len(ISSUED), SPENT[:10])
    assert any(status == 200 and outcome == "consumed" for status, outcome in chained), chained
