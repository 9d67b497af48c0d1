"""Attacks by (and on) relying parties: nonces replayed, stolen, bent out of shape or
spent at the edge of their life; presentations that smuggle elements (duplicates, other
namespaces, re-encoded or unsigned items, entries that are not items); challenges asked by
the thousand; the status route as an oracle or an enumeration tool."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any

import cbor2
import pytest
from fastapi.testclient import TestClient

from api.http import create_app
from card_service.clients import Role
from card_service.office import EphemeralOffice
from card_service.record.issuer_signed import encode_record
from card_service.record.record_parser import parse_record
from tests.dbfixtures import NOW
from tests.http.conftest import KEYS, assert_problem
from tests.http.test_relying import BANK, SHOP, Clock, _authenticate, _body, _challenge, _issued

AUDITOR = {"Authorization": f"Bearer {KEYS[Role.AUDITOR]}"}


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rp(office: EphemeralOffice, clock: Clock) -> Iterator[TestClient]:
    """The app with a bank and a shop of their own scopes (tests/http/test_relying.py)."""
    app = create_app(office, authenticate=_authenticate, now=clock)
    with TestClient(app, raise_server_exceptions=False) as made:
        yield made


def _verify(rp: TestClient, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return rp.post("/v1/verifications", json=body, headers=headers)


# -- nonces --------------------------------------------------------------------------------


def test_a_spent_nonce_is_spent_for_every_client(office: EphemeralOffice, rp: TestClient) -> None:
    reader, _ = _issued(office)
    body = _body(office, reader, _challenge(rp, BANK)["nonce"], "full_name")
    assert _verify(rp, body, BANK).json()["verdict"] == "VALID"
    for headers in (SHOP, BANK, SHOP):
        again = _verify(rp, body, headers).json()
        assert again["verdict"] == "INVALID" and again["challenge"] == "replayed"
        assert again["elements"] == {}


def test_a_stolen_nonce_burns_for_its_owner(office: EphemeralOffice, rp: TestClient) -> None:
    """The shop sees the bank's nonce (a shared terminal, a log) and races the bank: the
    shop gets nothing, and the bank's own presentation is refused too (it asks again)."""
    reader, _ = _issued(office)
    nonce = _challenge(rp, BANK)["nonce"]
    stolen = _verify(rp, _body(office, reader, nonce, "residence_began"), SHOP).json()
    assert (stolen["verdict"], stolen["challenge"]) == ("INVALID", "other_client")
    owner = _verify(rp, _body(office, reader, nonce, "full_name"), BANK).json()
    assert owner["verdict"] == "INVALID" and owner["challenge"] == "replayed"


def test_bent_nonces_never_yield_valid(office: EphemeralOffice, rp: TestClient) -> None:
    """Case, padding, whitespace, truncation, extension: another nonce or none at all,
    never the issued one (and never a 5xx)."""
    reader, _ = _issued(office)
    nonce = _challenge(rp, BANK)["nonce"]
    body = _body(office, reader, nonce, "full_name")
    variants = {
        nonce.swapcase(),
        nonce + "=",
        nonce[:-1],
        nonce + "A",
        " " + nonce,
        nonce.replace("-", "+").replace("_", "/"),
        nonce[::-1],
    } - {nonce}
    for variant in variants:
        response = _verify(rp, {**body, "nonce": variant}, BANK)
        assert response.status_code in (200, 422), (variant, response.text)
        assert "VALID" != response.json().get("verdict"), variant
    # the issued nonce was not touched by any variant: it is still the bank's to spend
    assert _verify(rp, body, BANK).json()["verdict"] == "VALID"


def test_a_nonce_at_the_edge_of_its_life(
    office: EphemeralOffice, rp: TestClient, clock: Clock
) -> None:
    reader, _ = _issued(office)
    issued = _challenge(rp, BANK)
    expires = dt.datetime.fromisoformat(issued["expires_at"])
    body = _body(office, reader, issued["nonce"], "full_name")
    clock.now = expires - dt.timedelta(milliseconds=1)
    assert _verify(rp, body, BANK).json()["verdict"] == "VALID"
    late = _challenge(rp, BANK)
    body = _body(office, reader, late["nonce"], "full_name")
    clock.now = dt.datetime.fromisoformat(late["expires_at"])
    answer = _verify(rp, body, BANK).json()
    assert (answer["verdict"], answer["challenge"]) == ("INVALID", "expired")
    clock.now = clock.now - dt.timedelta(seconds=5)  # a clock stepping back does not revive it
    answer = _verify(rp, body, BANK).json()
    assert answer["verdict"] == "INVALID" and answer["challenge"] == "expired"


def test_challenges_are_bounded_per_client(
    office: EphemeralOffice, rp: TestClient, clock: Clock
) -> None:
    """Asking challenges by the thousand: 429 after the class limit (120 a minute), and
    the store keeps no more than one client's window of them beyond their life."""
    store = office.shared_state.challenges
    assert hasattr(store, "__len__")
    for _ in range(120):
        assert rp.post("/v1/challenges", headers=BANK).status_code == 201
    limited = rp.post("/v1/challenges", headers=BANK)
    assert_problem(limited, 429, "rate_limited")
    assert len(store) == 120  # type: ignore[arg-type]
    # ... and forgets them after their lifetime and the retention: memory does not grow
    clock.now = NOW + dt.timedelta(minutes=10)
    assert rp.post("/v1/challenges", headers=BANK).status_code == 201
    assert len(store) == 1  # type: ignore[arg-type]


# -- presentations that smuggle elements ---------------------------------------------------


def _parts(office: EphemeralOffice, reader: str, nonce: str, *elements: str) -> dict[str, Any]:
    """A genuine presentation of ``elements`` with its items to rearrange."""
    body = _body(office, reader, nonce, *elements)
    parsed = parse_record(_b64decode(body["record"]))
    return {"body": body, "items": list(parsed.items), "auth": parsed.issuer_auth}


def _with_record(body: dict[str, str], record: bytes) -> dict[str, str]:
    return {**body, "record": _b64(record)}


def test_an_out_of_scope_item_in_another_namespace_is_refused(
    office: EphemeralOffice, rp: TestClient
) -> None:
    reader, _ = _issued(office)
    for other in ("org.example.other", "UPPER", ""):
        parts = _parts(office, reader, _challenge(rp, BANK)["nonce"], "full_name", "portrait")
        ns = parts["items"][0].namespace
        inside = [i.encoded for i in parts["items"] if i.identifier != "portrait"]
        portrait = [i.encoded for i in parts["items"] if i.identifier == "portrait"]
        smuggled = {ns: inside, (ns.upper() if other == "UPPER" else other): portrait}
        record = encode_record(smuggled, parts["auth"])
        response = _verify(rp, _with_record(parts["body"], record), BANK)
        assert_problem(response, 403, "presentation_out_of_scope")
        assert "portrait" not in response.json().get("elements", {})


def test_a_duplicated_item_is_not_valid(office: EphemeralOffice, rp: TestClient) -> None:
    reader, _ = _issued(office)
    parts = _parts(office, reader, _challenge(rp, BANK)["nonce"], "full_name")
    ns = parts["items"][0].namespace
    items = [i.encoded for i in parts["items"]]
    name = next(i.encoded for i in parts["items"] if i.identifier == "full_name")
    record = encode_record({ns: [*items, name]}, parts["auth"])
    answer = _verify(rp, _with_record(parts["body"], record), BANK).json()
    assert answer["verdict"] != "VALID"


def _reencoded(item: Any, identifier: str | None = None) -> bytes:
    """The item with its keys in another order (not the issuer's bytes), or renamed."""
    fields = {
        "elementValue": item.value,
        "elementIdentifier": identifier or item.identifier,
        "random": cbor2.loads(item.encoded)["random"],
        "digestID": item.digest_id,
    }
    return cbor2.dumps(fields)


@pytest.mark.parametrize("how", ["reordered", "renamed", "case"])
def test_rewritten_items_never_disclose(office: EphemeralOffice, rp: TestClient, how: str) -> None:
    """An out-of-scope item whose bytes are not the issuer's (keys reordered, the
    identifier in another case) is still carried: refused.  Renamed into the scope it is
    a forgery: MALFORMED/FORGED, nothing disclosed."""
    reader, _ = _issued(office)
    parts = _parts(office, reader, _challenge(rp, BANK)["nonce"], "full_name", "portrait")
    ns = parts["items"][0].namespace
    kept = [i.encoded for i in parts["items"] if i.identifier != "portrait"]
    portrait = next(i for i in parts["items"] if i.identifier == "portrait")
    if how == "reordered":
        extra = _reencoded(portrait)
    elif how == "renamed":
        extra = _reencoded(portrait, "full_name")
    else:
        extra = cbor2.dumps(
            {
                "digestID": portrait.digest_id,
                "random": cbor2.loads(portrait.encoded)["random"],
                "elementIdentifier": "Portrait",
                "elementValue": portrait.value,
            }
        )
    record = encode_record({ns: [*kept, extra]}, parts["auth"])
    response = _verify(rp, _with_record(parts["body"], record), BANK)
    if how == "renamed":  # a second full_name (in scope): a forgery, answered as one
        assert response.status_code == 200, response.text
    else:  # an out-of-scope element, whatever its bytes: refused
        assert_problem(response, 403, "presentation_out_of_scope")
    answer = response.json()
    assert answer.get("verdict") != "VALID"
    assert not {"portrait", "Portrait"} & set(answer.get("elements", {}))
    assert portrait.value is None or _b64(portrait.value) not in response.text


def test_entries_that_are_not_items_are_an_answer_not_a_crash(
    office: EphemeralOffice, rp: TestClient
) -> None:
    reader, _ = _issued(office)
    for junk in (5, "portrait", cbor2.CBORTag(24, b"\xff"), cbor2.CBORTag(24, cbor2.dumps([1]))):
        parts = _parts(office, reader, _challenge(rp, BANK)["nonce"], "full_name")
        ns = parts["items"][0].namespace
        items = [cbor2.CBORTag(24, i.encoded) for i in parts["items"]]
        record = cbor2.dumps(
            {"nameSpaces": {ns: [*items, junk]}, "issuerAuth": parts["auth"]}, canonical=True
        )
        response = _verify(rp, _with_record(parts["body"], record), BANK)
        assert response.status_code in (200, 403, 422), response.text
        assert response.json().get("verdict") != "VALID"


# -- the status route ----------------------------------------------------------------------


def test_status_is_no_oracle_without_a_key_or_the_role(
    office: EphemeralOffice, rp: TestClient
) -> None:
    """Known and unknown numbers read the same to a caller without a key and to a role
    the route does not admit: the 404/200 difference is for the admitted only."""
    _, number = _issued(office)
    for headers, status in (({}, 401), ({"Authorization": "Bearer nope"}, 401), (AUDITOR, 403)):
        bodies = []
        for candidate in (number, "330106202699999999", "0"):
            response = rp.get(f"/v1/permits/{candidate}/status", headers=headers)
            body = assert_problem(response, status)
            bodies.append({k: v for k, v in body.items() if k != "instance"})
            assert len(candidate) < 5 or candidate not in response.text
        assert bodies[0] == bodies[1] == bodies[2]


def test_status_enumeration_cannot_dodge_the_limit(office: EphemeralOffice, rp: TestClient) -> None:
    """30 a minute per client, whatever the number (known or not), the spelling of the
    path, or the proxy headers a client forges."""
    _, number = _issued(office)
    for index in range(30):
        candidate = number if index % 2 else f"3301062026{index:08d}"
        assert rp.get(f"/v1/permits/{candidate}/status", headers=BANK).status_code in (200, 404)
    forged = {
        **BANK,
        "X-Forwarded-For": "203.0.113.9",
        "X-Real-IP": "203.0.113.9",
        "Forwarded": "for=203.0.113.9",
        "X-Request-ID": "another-request-123",
    }
    for path in (
        f"/v1/permits/{number}/status",
        f"/v1/permits/%33{number[1:]}/status",
        f"/v1/permits/{number.lower()}/status",
    ):
        response = rp.get(path, headers=forged)
        assert_problem(response, 429, "rate_limited")
    # a trailing slash is not a second route that answers statuses
    slashed = rp.get(f"/v1/permits/{number}/status/", headers=BANK, follow_redirects=False)
    assert slashed.status_code in (307, 404, 429) and "valid" not in slashed.text
    # and the other classes were not spent by it
    assert rp.post("/v1/challenges", headers=BANK).status_code == 201
