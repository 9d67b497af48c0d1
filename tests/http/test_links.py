"""OpenAPI links (api/http/links.py): in the served document, each resolving to an operation
of it, and a link to or from an operation the document lacks refused when it is built."""

from __future__ import annotations

import copy

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.links import LINKS, Link, install_links, operation_ref


def _resolve(document: dict, ref: str) -> dict:
    node: dict = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_link_is_served_and_resolves(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    served = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for name, link in response.get("links", {}).items():
                    served += 1
                    target = _resolve(document, link["operationRef"])
                    assert "responses" in target, (method, path, status, name)
                    names = {p["name"] for p in target.get("parameters", [])}
                    for parameter in link.get("parameters", {}):
                        assert parameter.split(".", 1)[1] in names, (name, parameter)
    assert served == len(LINKS)
    challenge = document["paths"]["/v1/challenges"]["post"]["responses"]["201"]["links"]
    assert challenge["VerifyPresentation"] == {
        "operationRef": "#/paths/~1v1~1verifications/post",
        "description": challenge["VerifyPresentation"]["description"],
        "requestBody": {"nonce": "$response.body#/nonce"},
    }


def test_operation_ref_escapes_the_path() -> None:
    assert operation_ref("GET", "/v1/permits/{number}") == "#/paths/~1v1~1permits~1{number}/get"


@pytest.mark.parametrize(
    "link",
    [
        Link(("post", "/v1/challenges", "201"), "X", ("post", "/v1/nowhere"), "no target"),
        Link(("post", "/v1/challenges", "299"), "X", ("post", "/v1/verifications"), "no status"),
        Link(("get", "/v1/nowhere", "200"), "X", ("post", "/v1/verifications"), "no source"),
        LINKS[0],  # already there: twice
    ],
)
def test_a_dangling_or_repeated_link_is_refused(app: FastAPI, link: Link) -> None:
    document = copy.deepcopy(app.openapi())
    with pytest.raises(RuntimeError, match="link"):
        install_links(document, (link,))
