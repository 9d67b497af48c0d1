"""schemathesis, stateful: sequences of calls that follow the document's OpenAPI links.

A challenge's nonce is spent by a presentation, a new client is expired and revoked, a
listed reader's card is verified and its permit looked up, revoked and its status asked
(api/http/links.py).  Each call is authenticated with a key of a role the route admits; no
answer may be a 5xx or outside the documented responses, and schemathesis's stateful checks
run too (a resource a link reaches right after it was created must be there; a key the
route ignores would be ``ignored_auth``).  The office holds two issued cards and a blank one,
so links reach real permits; its rate limits are raised (the clock stands still here, so a
limit's window never ends; tests/http/test_relying.py covers 429).

The presentation's record is fuzzed as CBOR (tests/http/cbor_fuzz.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from schemathesis import Case
from schemathesis.core.transport import Response
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
EXCLUDED = [positive_data_acceptance, negative_data_rejection]
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


def _office() -> EphemeralOffice:
    """Three readers: two issued cards, one blank."""
    temporary = Path(tempfile.mkdtemp(prefix="permit-stateful-"))
    station = Sandbox.create(
        f"sqlite:///{temporary / 'register.db'}", SimReaderDriver(slots=3), NOW, pki=PKI
    )
    office = EphemeralOffice(station, Settings(rate_limits_text=UNLIMITED), temporary=temporary)
    for slot, seed in ((0, 41), (1, 42)):
        office.issue(synthetic_application(NOW, seed=seed), insert_blank(office, slot), NOW)
    insert_blank(office, 2)
    return office


_OFFICE = _office()
SERVICE = create_app(
    _OFFICE, authenticate=_authenticate, now=lambda: NOW, limits=Limits(event_stream=0.3)
)
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


class Stateful(schema.as_state_machine()):  # type: ignore[misc]
    """Each call with a key of a role the route admits; the stateless test's exclusions."""

    def get_call_kwargs(self, case: Case) -> dict[str, Any]:
        role = _role_for(case.method, case.path)
        return {"headers": auth(role) if role is not None else {}}

    def validate_response(
        self, response: Response, case: Case, additional_checks: Any = None, **kwargs: Any
    ) -> None:
        case.validate_response(
            response,
            additional_checks=additional_checks,
            excluded_checks=EXCLUDED,
            headers=kwargs.get("headers"),
            transport_kwargs=kwargs or None,
            recorder=self.recorder,
        )


def test_the_record_field_is_fuzzed_as_cbor() -> None:
    """The presentation's record is declared ``base64url-cbor`` in the document (what the
    registered strategy above generates)."""
    document = SERVICE.openapi()
    body = document["components"]["schemas"]["PresentationBody"]["properties"]["record"]
    assert body["format"] == cbor_fuzz.RECORD_FORMAT


def test_links_are_followed_statefully() -> None:
    Stateful.run(settings=settings(max_examples=60, stateful_step_count=8, deadline=None))
