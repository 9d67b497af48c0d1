"""``permit present``: a relying party's terminal side.

The card in ``--reader`` answers the verifier's challenge (INTERNAL AUTHENTICATE over the
nonce) and the terminal builds a selective presentation of only the ``--scope`` elements
(the mandatory ``permit_number`` and ``first_endorsement_due`` always go with it).  No
issuer key and no register are needed: only the card.

Without ``--url`` the JSON body of ``POST /v1/verifications`` is printed; with ``--url`` (the
service's base URL) and ``--key-file`` (the API key, read from a file, never from the
command line and never logged) it is posted and the verdict printed (exit 0 when VALID).
With ``--url`` and no ``--challenge`` the terminal asks the service for one first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import httpx

from card_service.office import Presentation

from .common import CliError, open_office, print_json, read_input

__all__ = ["http_client", "register"]

#: An API key file holds one key (a line); anything longer is not one.
KEY_FILE_MAX_BYTES = 512
TIMEOUT_S = 30.0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "present",
        help="have the card answer a relying party's challenge and build its presentation",
        description="Read the card in a reader, have it sign the challenge and build a "
        "selective presentation; print the body of POST /v1/verifications, or post it.",
    )
    parser.add_argument("--reader", required=True, metavar="NAME")
    parser.add_argument(
        "--challenge", metavar="NONCE", help="the nonce of POST /v1/challenges (43 characters)"
    )
    parser.add_argument(
        "--scope",
        type=_elements,
        default=(),
        metavar="ELEM,...",
        help="the elements to disclose (the mandatory ones always go)",
    )
    parser.add_argument("--url", metavar="URL", help="the permit service's base URL")
    parser.add_argument(
        "--key-file", type=Path, metavar="FILE", help="a file holding the API key (with --url)"
    )
    parser.set_defaults(func=run_present)


def _elements(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def http_client(base_url: str) -> httpx.Client:
    """The HTTP client of ``--url`` (tests hand in the app's own)."""
    return httpx.Client(base_url=base_url, timeout=TIMEOUT_S)


def _api_key(path: Path | None) -> str:
    if path is None:
        raise CliError(
            "error: --url needs --key-file (the API key is never given on the command line)", 2
        )
    key = read_input(path, KEY_FILE_MAX_BYTES, "key file").decode("utf-8", "replace").strip()
    if not key or any(c.isspace() for c in key):
        raise CliError(f"error: key file {path} does not hold one API key", 2)
    return key


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON answer, or a one-line :class:`CliError` with the problem's code."""
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise CliError(f"error: the service answered HTTP {response.status_code} without JSON")
    if response.status_code >= 400:
        code, detail = body.get("code", "error"), body.get("detail", "")
        raise CliError(f"error: the service refused ({response.status_code} {code}): {detail}")
    return body


def run_present(args: argparse.Namespace) -> int:
    if args.url is None and args.key_file is not None:
        raise CliError("error: --key-file goes with --url", 2)
    if args.url is None and args.challenge is None:
        raise CliError("error: give --challenge (or --url and --key-file to ask for one)", 2)
    client: httpx.Client | None = None
    headers: dict[str, str] = {}
    try:
        if args.url is not None:
            headers = {"Authorization": f"Bearer {_api_key(args.key_file)}"}
            client = http_client(args.url)
        nonce = args.challenge
        if nonce is None:
            assert client is not None
            nonce = _answer(client.post("/v1/challenges", headers=headers))["nonce"]
        with open_office() as office:
            presentation: Presentation = office.present_card(args.reader, nonce, args.scope)
        body = presentation.to_json()
        if client is None:
            print_json(body)
            return 0
        answer = _answer(client.post("/v1/verifications", json=body, headers=headers))
    except httpx.HTTPError as exc:
        raise CliError(f"error: cannot reach the service ({type(exc).__name__})") from None
    finally:
        if client is not None:
            client.close()
    print_json(answer)
    return 0 if answer.get("verdict") == "VALID" else 1
