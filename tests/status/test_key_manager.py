"""A status list signed with the key store's status-list signer verifies with the
directory's trust list; a document signer of the same directory does not sign lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from card_service.status import Status, UnknownReason, Verdict, build_status_list, check_status
from keys.config import load_settings
from keys.pki import KeyManager

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
URI = "https://permit.example/status/1"


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[KeyManager]:
    home = tmp_path / "home"
    settings = load_settings(
        {"PERMIT_HOME": str(home), "PERMIT_KEY_PASSPHRASE": "correct horse battery staple 7"}
    )
    with KeyManager(settings) as m:
        m.init(NOW - dt.timedelta(days=1))
        yield m


def test_signed_by_the_status_list_signer(manager: KeyManager) -> None:
    signer = manager.status_signer(NOW)
    data = build_status_list({7: Status.INVALID}, 100, URI, signer, NOW)
    trust = manager.trust_list()
    later = NOW + dt.timedelta(minutes=1)
    assert check_status(data, trust, index=7, now=later, uri=URI).verdict is Verdict.INVALID
    assert check_status(data, trust, index=8, now=later, uri=URI).verdict is Verdict.VALID
    forged = build_status_list({}, 100, URI, manager.document_signer(NOW), NOW)
    answer = check_status(forged, trust, index=7, now=later, uri=URI)
    assert answer.reason is UnknownReason.UNTRUSTED_SIGNER
