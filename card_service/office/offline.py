"""Offline verification (docs/offline-verification.md): a bank or merchant with no key store
and no register verifies a card with two downloads only, the trust list (``GET /v1/trust``)
and the signed status list (``GET /v1/status-list``).

* :meth:`OfflineUseCases.install_trust` checks both downloads (the trust data's files
  against its manifest, every certificate and CRL issued by its root, an optional pinned
  root fingerprint; the status list's signature, its status-list signer under that root,
  its times) and only then writes them into a directory (0700; files 0600, each replaced
  atomically, never through a link; the manifest and the list last);
* :meth:`OfflineUseCases.verify_card_offline` verifies the card in a reader against such a
  directory and list: the record, the card's answer to a fresh challenge, and the record's
  status reference looked up in the list (REVOKED, SUSPENDED, or STATUS_UNKNOWN when the
  list cannot say: no list, expired, bad signature, index beyond it, another list's URI).

Neither opens the key store or the register.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from card_service.record import Verifier
from card_service.status.token import MAX_TOKEN_BYTES
from card_service.status.verify import (
    StatusListCheck,
    load_status_list,
    record_status,
)
from card_service.workflows.verify import CardVerification, counter_verdict, verify_card
from keys.errors import SignerValidationError
from keys.fsutil import (
    UnsafePathError,
    check_output_path,
    ensure_private_dir,
    write_private_file,
)
from keys.trust import TrustList
from keys.trust_bundle import check_bundle, trust_from_bundle
from permit_errors import ErrorKind

from .core import OfficeCore
from .errors import OfficeError, StorageError, TrustUnavailable

__all__ = [
    "MAX_TRUST_DOCUMENT_BYTES",
    "STATUS_LIST_FILE",
    "InstalledTrust",
    "ListInfo",
    "OfflineUseCases",
    "OfflineVerification",
    "TrustRefused",
]

#: The status list's file in a fetched trust directory.
STATUS_LIST_FILE = "status-list.cwt"
#: Largest trust document accepted (a few roots, signers and CRLs are some KiB).
MAX_TRUST_DOCUMENT_BYTES = 4 * 1024 * 1024
#: Most files a trust document may name; a file's name (plain, no directories).
_MAX_FILES = 256
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
_BUNDLE_FORMAT = "permit-trust-bundle-v1"


class TrustRefused(OfficeError):
    """Downloaded trust data or status list that does not check out; nothing was written."""

    code = "trust_refused"
    kind = ErrorKind.INTEGRITY


@dataclass(frozen=True)
class ListInfo:
    """The status list a verification used (no statuses, no identities)."""

    uri: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    refresh_at: dt.datetime
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "refresh_at": self.refresh_at.isoformat(),
            "size": self.size,
        }


def _list_info(check: StatusListCheck) -> ListInfo | None:
    verified = check.status_list
    if verified is None:
        return None
    token = verified.token
    assert token.expires_at is not None  # load_status_list refuses a list without exp
    return ListInfo(
        token.sub, token.issued_at, token.expires_at, verified.refresh_at, token.status_list.size
    )


@dataclass(frozen=True)
class OfflineVerification:
    """A card verified offline: the card check, its one-word verdict, and the list used
    (``None`` with ``list_problem`` when there was none usable)."""

    check: CardVerification
    status_list: ListInfo | None
    list_problem: str | None

    @property
    def verdict(self) -> str:
        return counter_verdict(self.check)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            **self.check.to_json(),
            "status_list": None if self.status_list is None else self.status_list.to_json(),
            "status_list_problem": self.list_problem,
        }


@dataclass(frozen=True)
class InstalledTrust:
    """What :meth:`OfflineUseCases.install_trust` wrote."""

    directory: Path
    root_fingerprints: tuple[str, ...]
    status_list: ListInfo


def _bundle(document: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and files of a ``GET /v1/trust`` document (shape only)."""
    if len(document) > MAX_TRUST_DOCUMENT_BYTES:
        raise TrustRefused("the trust document is too large")
    try:
        value = json.loads(document)
    except (ValueError, RecursionError):
        raise TrustRefused("the trust document is not JSON") from None
    if (
        not isinstance(value, dict)
        or value.get("format") != _BUNDLE_FORMAT
        or not isinstance(value.get("manifest"), dict)
        or not isinstance(value.get("files"), dict)
    ):
        raise TrustRefused(f"the trust document is not a {_BUNDLE_FORMAT} document")
    files: dict[str, bytes] = {}
    if len(value["files"]) > _MAX_FILES:
        raise TrustRefused("the trust document names too many files")
    for name, text in value["files"].items():
        if not _FILE_NAME.fullmatch(name) or name == "manifest.json" or name == STATUS_LIST_FILE:
            raise TrustRefused("the trust document names a file that is not a plain name")
        if not isinstance(text, str) or not text.isascii():
            raise TrustRefused("the trust document's files must be PEM text")
        files[name] = text.encode("ascii")
    return value["manifest"], files


class OfflineUseCases(OfficeCore):
    """Offline verification (mixed into :class:`~.office.Office`)."""

    def install_trust(
        self,
        directory: Path,
        document: bytes,
        status_list: bytes,
        now: dt.datetime,
        *,
        expect_root: str | None = None,
    ) -> InstalledTrust:
        """Check a downloaded trust document and status list, then write both into
        ``directory`` (``--trust DIR`` and ``DIR/status-list.cwt``).  Any failed check is
        :class:`TrustRefused` and writes nothing."""
        manifest, files = _bundle(document)
        try:
            trust = trust_from_bundle(manifest, files)
            found = check_bundle(trust, expect_root=expect_root)
        except SignerValidationError as exc:
            raise TrustRefused(f"trust data refused: {exc}") from None
        if len(status_list) > MAX_TOKEN_BYTES:
            raise TrustRefused("the status list is too large")
        check = load_status_list(status_list, trust, now)
        info = _list_info(check)
        if info is None:
            detail = f" ({check.detail})" if check.detail else ""
            reason = check.reason.value if check.reason else "unknown"
            raise TrustRefused(f"status list refused: {reason}{detail}")
        names = [*files, "manifest.json", STATUS_LIST_FILE]
        try:
            ensure_private_dir(directory)
            for name in names:  # all refused before any is written
                check_output_path(directory / name)
            for name, data in files.items():
                write_private_file(directory / name, data)
            text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
            write_private_file(directory / "manifest.json", text.encode())
            write_private_file(directory / STATUS_LIST_FILE, status_list)
        except UnsafePathError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot write {directory}: {exc.strerror}") from None
        return InstalledTrust(directory, found.root_fingerprints, info)

    def offline_trust(self, directory: Path | None) -> TrustList:
        """The trust list of ``directory`` (written by ``install_trust`` or
        ``export_trust``), else the local key directory's."""
        from keys.trust import load_trust_dir

        if directory is not None:
            return load_trust_dir(directory)
        if self._trust is None and not self.key_manager().initialised():
            raise TrustUnavailable("no --trust DIR given and no local keys to trust")
        return self.trust_list()

    def verify_card_offline(
        self,
        reader: str,
        now: dt.datetime,
        *,
        trust_dir: Path | None,
        status_list: bytes | None,
    ) -> OfflineVerification:
        """Verify the card in ``reader`` with a trust directory and a status list only:
        no register, no key store (unless ``trust_dir`` is ``None``: the local trust)."""
        trust = self.offline_trust(trust_dir)
        check = load_status_list(status_list, trust, now)
        verifier = Verifier(trust, status=record_status(check))
        result = verify_card(self.cards, reader, verifier, now)
        info = _list_info(check)
        problem = None if info is not None else (check.reason.value if check.reason else None)
        return OfflineVerification(result, info, problem)
