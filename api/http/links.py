"""OpenAPI links: how the answer of one operation feeds the next (OpenAPI 3.1, "Link Object").

A client (or schemathesis's stateful tests, tests/http/test_schemathesis_stateful.py) follows
them: a challenge's nonce is what the presentation of ``POST /v1/verifications`` spends; a
new client's id is what its expiry and revocation name; a reader listed is where a card is
verified, endorsed or issued onto; the permit number a verification read is what the permit
routes take.  :func:`install_links` adds them to the document and refuses a link whose
source or target operation does not exist (a route renamed without its links).

A ``requestBody`` that is an object of expressions names the fields of the target's body
that come from the source (the rest is the client's own); ``$request.body`` is the source's
whole body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LINKS", "Link", "install_links", "operation_ref"]


@dataclass(frozen=True)
class Link:
    """One link: from the ``status`` answer of ``(method, path)`` to ``target``."""

    source: tuple[str, str, str]  # (method, path, status)
    name: str
    target: tuple[str, str]  # (method, path)
    description: str
    parameters: dict[str, str] = field(default_factory=dict)
    request_body: Any = None


def operation_ref(method: str, path: str) -> str:
    """The JSON pointer of an operation in this document (``#/paths/~1v1~1.../post``)."""
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{escaped}/{method.lower()}"


_VERIFY = ("post", "/v1/verifications")
_CHALLENGE = ("post", "/v1/challenges")
_CLIENTS = ("get", "/v1/clients")
_CREATE_CLIENT = ("post", "/v1/clients")
_EXPIRE_CLIENT = ("post", "/v1/clients/{client_id}/expiry")
_REVOKE_CLIENT = ("post", "/v1/clients/{client_id}/revocation")
_READERS = ("get", "/v1/readers")
_VERIFY_CARD = ("post", "/v1/readers/{reader}/verification")
_ENDORSE = ("post", "/v1/readers/{reader}/endorsement")
_ISSUE = ("post", "/v1/readers/{reader}/issuance")
_APPLY = ("post", "/v1/applications")
_PERMIT = ("get", "/v1/permits/{number}")
_STATUS = ("get", "/v1/permits/{number}/status")
_REVOKE = ("post", "/v1/permits/{number}/revocation")


def _client_links(source: tuple[str, str, str], pointer: str) -> list[Link]:
    client_id = {"path.client_id": f"$response.body#{pointer}"}
    return [
        Link(source, "ExpireClient", _EXPIRE_CLIENT, "Set this client's expiry", client_id),
        Link(source, "RevokeClient", _REVOKE_CLIENT, "Revoke this client", client_id),
    ]


def _reader_links(pointer: str) -> list[Link]:
    reader = {"path.reader": f"$response.body#{pointer}"}
    source = (*_READERS, "200")
    return [
        Link(source, "VerifyCard", _VERIFY_CARD, "Verify the card in this reader", reader),
        Link(source, "EndorseCard", _ENDORSE, "Endorse the permit on this reader's card", reader),
        Link(source, "IssueOnto", _ISSUE, "Issue a permit onto this reader's card", reader),
    ]


def _permit_links(source: tuple[str, str, str], expression: str) -> list[Link]:
    number = {"path.number": expression}
    links = [
        Link(source, "GetPermit", _PERMIT, "This permit with its history", number),
        Link(source, "PermitStatus", _STATUS, "This permit's status", number),
        Link(source, "RevokePermit", _REVOKE, "Revoke this permit", number),
    ]
    return [link for link in links if link.target != source[:2]]


#: Every link of the document.
LINKS: tuple[Link, ...] = (
    Link(
        (*_CHALLENGE, "201"),
        "VerifyPresentation",
        _VERIFY,
        "Spend this challenge: the presentation's `nonce` is this challenge's, signed by the "
        "card (INTERNAL AUTHENTICATE); one verification per nonce",
        request_body={"nonce": "$response.body#/nonce"},
    ),
    *_client_links((*_CREATE_CLIENT, "201"), "/client/client_id"),
    *_client_links((*_CLIENTS, "200"), "/0/client_id"),
    Link(
        (*_EXPIRE_CLIENT, "200"),
        "RevokeClient",
        _REVOKE_CLIENT,
        "Revoke the client whose expiry was set",
        {"path.client_id": "$response.body#/client_id"},
    ),
    *_reader_links("/0/name"),
    Link(
        (*_APPLY, "201"),
        "IssueApproved",
        _ISSUE,
        "Issue the approved application (retry it by its id, with the same document)",
        {"query.application_id": "$response.body#/application_id"},
        request_body="$request.body",
    ),
    *_permit_links((*_VERIFY_CARD, "200"), "$response.body#/permit_number"),
    *_permit_links((*_PERMIT, "200"), "$response.body#/number"),
    Link(
        (*_REVOKE, "200"),
        "GetPermit",
        _PERMIT,
        "The revoked permit with its history",
        {"path.number": "$request.path.number"},
    ),
    Link(
        (*_REVOKE, "200"),
        "PermitStatus",
        _STATUS,
        "The revoked permit's status",
        {"path.number": "$request.path.number"},
    ),
    Link(
        (*_VERIFY, "200"),
        "PermitStatus",
        _STATUS,
        "The presented permit's status (its number is always disclosed)",
        {"path.number": "$response.body#/elements/permit_number"},
    ),
)


def _definition(link: Link) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationRef": operation_ref(*link.target),
        "description": link.description,
    }
    if link.parameters:
        out["parameters"] = dict(link.parameters)
    if link.request_body is not None:
        out["requestBody"] = link.request_body
    return out


def install_links(document: dict[str, Any], links: tuple[Link, ...] = LINKS) -> None:
    """Add ``links`` to the responses of ``document``; a link from or to an operation or
    response the document lacks is a :class:`RuntimeError` (raised when the app builds its
    document)."""
    paths = document.get("paths", {})
    for link in links:
        method, path, status = link.source
        target_method, target_path = link.target
        if target_method not in paths.get(target_path, {}):
            raise RuntimeError(f"link {link.name}: no operation {target_method} {target_path}")
        responses = paths.get(path, {}).get(method, {}).get("responses", {})
        if status not in responses:
            raise RuntimeError(f"link {link.name}: no response {status} of {method} {path}")
        named = responses[status].setdefault("links", {})
        if link.name in named:
            raise RuntimeError(f"link {link.name}: twice on {status} of {method} {path}")
        named[link.name] = _definition(link)
