"""``permit trust fetch URL DIR``: download what an offline verifier needs, check it, keep it.

``GET {URL}/v1/trust`` (roots, CRL, signer certificates) and ``GET {URL}/v1/status-list``
(the signed Token Status List) are fetched with bounded bodies and a timeout, checked by the
office (:meth:`~card_service.office.Office.install_trust`: the certificates and CRLs issued
by the root of the same data, ``--expect-root`` when given, the list signed by a
status-list signer under that root and not expired) and only then written into ``DIR``
(0700, files 0600, never through a link).  ``permit verify --reader R --trust DIR
--status-list DIR/status-list.cwt`` then needs nothing else (docs/offline-verification.md).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from card_service.office import MAX_TRUST_DOCUMENT_BYTES, STATUS_LIST_FILE

from .common import CliError, open_office, print_json
from .common import utc_now as _now

__all__ = ["MAX_STATUS_LIST_BYTES", "TIMEOUT_S", "fetch", "http_client", "register"]

TIMEOUT_S = 15.0
#: Largest status list downloaded (the parser's own bound; ten million permits are ~165 KB).
MAX_STATUS_LIST_BYTES = 32 * 1024 * 1024
TRUST_PATH = "/v1/trust"
STATUS_LIST_PATH = "/v1/status-list"
_MEDIA = {TRUST_PATH: "application/json", STATUS_LIST_PATH: "application/statuslist+cwt"}
_SHA256 = re.compile(r"[0-9A-Fa-f]{64}")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    trust = subparsers.add_parser("trust", help="trust data for offline verification")
    sub = trust.add_subparsers(dest="trust_command", metavar="COMMAND", required=True)
    fetch_cmd = sub.add_parser(
        "fetch", help="download the trust list and the status list, check them, keep them"
    )
    fetch_cmd.add_argument("url", metavar="URL", type=_base_url, help="the service's base URL")
    fetch_cmd.add_argument("directory", metavar="DIR", type=Path)
    fetch_cmd.add_argument(
        "--expect-root",
        metavar="SHA256",
        type=_fingerprint,
        default=None,
        help="refuse unless a root has this SHA-256 fingerprint (compare it out of band)",
    )
    fetch_cmd.add_argument("--json", action="store_true")
    fetch_cmd.set_defaults(func=run_fetch)


def _base_url(text: str) -> str:
    split = urlsplit(text)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise argparse.ArgumentTypeError("an http:// or https:// URL")
    if split.username or split.password or split.query or split.fragment:
        raise argparse.ArgumentTypeError("a base URL without credentials, query or fragment")
    return text.rstrip("/")


def _fingerprint(text: str) -> str:
    if not _SHA256.fullmatch(text):
        raise argparse.ArgumentTypeError("64 hexadecimal digits (SHA-256 of the root's DER)")
    return text.lower()


def http_client() -> httpx.Client:
    """The client of a fetch (tests hand in one on the app's own transport)."""
    return httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)


def fetch(client: httpx.Client, base_url: str, path: str, limit: int) -> bytes:
    """The body of ``GET base_url + path``: 200, the expected media type, at most ``limit``
    bytes (refused as soon as the declared length or the bytes read exceed it)."""
    where = f"GET {path}"
    try:
        with client.stream("GET", base_url + path, headers={"Accept": _MEDIA[path]}) as answer:
            if answer.status_code != 200:
                raise CliError(f"error: {where} answered HTTP {answer.status_code}")
            media = answer.headers.get("content-type", "").split(";")[0].strip().lower()
            if media != _MEDIA[path]:
                raise CliError(f"error: {where} is not {_MEDIA[path]}")
            declared = answer.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                raise CliError(f"error: {where} is larger than {limit} bytes")
            body = bytearray()
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise CliError(f"error: {where} is larger than {limit} bytes")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise CliError(f"error: {where} failed: {type(exc).__name__}") from None


def run_fetch(args: argparse.Namespace) -> int:
    now = _now()
    with http_client() as client:
        document = fetch(client, args.url, TRUST_PATH, MAX_TRUST_DOCUMENT_BYTES)
        status_list = fetch(client, args.url, STATUS_LIST_PATH, MAX_STATUS_LIST_BYTES)
    with open_office() as office:
        installed = office.install_trust(
            args.directory, document, status_list, now, expect_root=args.expect_root
        )
    info = installed.status_list
    if args.json:
        print_json(
            {
                "directory": str(installed.directory),
                "root_fingerprints": list(installed.root_fingerprints),
                "status_list_file": str(installed.directory / STATUS_LIST_FILE),
                "status_list": info.to_json(),
            }
        )
        return 0
    print(f"trust list and status list written to {installed.directory}")
    for fingerprint in installed.root_fingerprints:
        print(f"  root SHA-256 {fingerprint} (compare it with the issuer's published value)")
    print(
        f"  status list: {info.size} entries, issued {info.issued_at.isoformat()}, "
        f"fetch again after {info.refresh_at.isoformat()}, expires {info.expires_at.isoformat()}"
    )
    return 0
