"""Checkpoints are sealed by the key store's audit signer, never by a document signer: a
checkpoint signed by a document signer, by a revoked audit signer or outside its window is
reported as the first bad entry (both databases)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from api.cli import audit as audit_cli
from card_service.audit import (
    AuditCheckpoint,
    AuditHead,
    AuditReport,
    NotAnAuditSigner,
    create_checkpoint,
    verify_audit_log,
)
from card_service.audit.checkpoint import checkpoint_message
from card_service.audit.trust import local_trust
from keys.config import KeySettings
from keys.pki import KeyManager, SignatureResult
from keys.profiles import OID_AUDIT_SIGNING
from keys.store import KeyHandle
from keys.trust import TrustList
from tests.dbfixtures import KEY_PASSPHRASE, NOW
from tests.keys.helpers import make_legacy_key_directory

from .test_audit_chain import add

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def own_keys(tmp_path: Path) -> Iterator[KeyManager]:
    """A key directory of this test's own (for revocation and rotation)."""
    home = tmp_path / "own-keys"
    settings = KeySettings(
        directory=home / "keys",
        env={"PERMIT_HOME": str(home), "PERMIT_KEY_PASSPHRASE": KEY_PASSPHRASE},
    )
    with KeyManager(settings) as manager:
        manager.init(NOW - DAY)
        yield manager


def check(engine: Engine, trust: TrustList | None, now: dt.datetime = NOW + HOUR) -> AuditReport:
    with Session(engine) as session:
        return verify_audit_log(session, trust, now)


def checkpoints(engine: Engine) -> list[AuditCheckpoint]:
    with Session(engine) as session:
        return list(session.execute(select(AuditCheckpoint)).scalars())


def forge_ds_checkpoint(engine: Engine, manager: KeyManager, now: dt.datetime) -> int:
    """What an insider with only the document signer could do: seal the last entry with a
    valid DS signature (written straight to the table)."""
    with Session(engine) as session, session.begin():
        seq = session.execute(select(func.max(AuditCheckpoint.seq))).scalar() or 0
        head = session.get(AuditHead, 1)
        assert head is not None and head.seq > seq
        result = manager.sign(checkpoint_message(head.seq, head.entry_hash, now), now)
        session.add(
            AuditCheckpoint(
                seq=head.seq,
                entry_hash=head.entry_hash,
                time=now,
                signer_id=result.signer_id,
                signature=result.signature.hex(),
                certificate=result.certificate.public_bytes(serialization.Encoding.PEM).decode(),
            )
        )
        return head.seq


class DocumentSignerAdapter:
    """A wrong adapter that would hand checkpoints to the document signer."""

    def __init__(self, manager: KeyManager) -> None:
        self.manager = manager

    def sign_audit(self, data: bytes, now: dt.datetime) -> SignatureResult:
        return self.manager.sign(data, now)


def test_checkpoints_carry_the_audit_signer_certificate(
    db_engine: Engine, key_manager: KeyManager
) -> None:
    add(db_engine, 3)
    sealed = create_checkpoint(db_engine, key_manager, NOW)
    assert sealed is not None and sealed.signer_id.startswith("audit-")
    [row] = checkpoints(db_engine)
    cert = x509.load_pem_x509_certificate(row.certificate.encode())
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        OID_AUDIT_SIGNING
    ]
    assert "Audit Signer" in cert.subject.rfc4514_string()
    assert row.signer_id == sealed.signer_id
    report = check(db_engine, local_trust(key_manager))
    assert report.ok and report.checkpoints_checked == 1 and report.signers_trusted


def test_document_signer_cannot_seal_the_log(db_engine: Engine, key_manager: KeyManager) -> None:
    add(db_engine, 2)
    with pytest.raises(NotAnAuditSigner, match="not an audit signer"):
        create_checkpoint(db_engine, DocumentSignerAdapter(key_manager), NOW)
    assert checkpoints(db_engine) == []  # nothing was stored


def test_checkpoint_signed_by_a_document_signer_is_bad(
    db_engine: Engine, key_manager: KeyManager
) -> None:
    add(db_engine, 3)
    create_checkpoint(db_engine, key_manager, NOW)  # a good one at 3
    add(db_engine, 2, start=10)
    seq = forge_ds_checkpoint(db_engine, key_manager, NOW)
    assert seq == 5
    for trust in (local_trust(key_manager), None):  # the EKU is checked even without trust
        report = check(db_engine, trust)
        assert (report.ok, report.first_bad_seq) == (False, 5)
        assert report.reason == "checkpoint signer is not an audit signer (extendedKeyUsage)"


def test_revoked_audit_signer_fails_its_checkpoints(
    db_engine: Engine, own_keys: KeyManager
) -> None:
    add(db_engine, 2)
    first = create_checkpoint(db_engine, own_keys, NOW)
    assert first is not None and first.signer_id == "audit-0001"
    assert check(db_engine, local_trust(own_keys)).ok
    own_keys.revoke_signer("audit-0001", "key-compromise", NOW + HOUR)
    add(db_engine, 2, start=10)
    later = create_checkpoint(db_engine, own_keys, NOW + 2 * HOUR)
    assert later is not None and later.signer_id == "audit-0002"  # a new one took over
    report = check(db_engine, local_trust(own_keys), NOW + 3 * HOUR)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "not trusted" in (report.reason or "") and "revoked" in (report.reason or "")
    # without a trust list, revocation cannot be known (the report says signers were not)
    unchecked = check(db_engine, None, NOW + 3 * HOUR)
    assert unchecked.ok and not unchecked.signers_trusted


def test_audit_signer_rotation_keeps_old_checkpoints_valid(
    db_engine: Engine, own_keys: KeyManager
) -> None:
    window = own_keys.registry.policy.audit_signing_window_days * DAY
    add(db_engine, 2)
    create_checkpoint(db_engine, own_keys, NOW)
    add(db_engine, 2, start=10)
    much_later = NOW + window + 30 * DAY
    create_checkpoint(db_engine, own_keys, much_later)  # rotates and refreshes the CRL
    assert [c.signer_id for c in checkpoints(db_engine)] == ["audit-0001", "audit-0002"]
    assert own_keys.describe(much_later)["audit_signers"][0]["state"] == "expired"
    report = check(db_engine, local_trust(own_keys), much_later + HOUR)
    assert report.ok and report.checkpoints_checked == 2, report


def test_checkpoint_dated_outside_the_signers_window_is_bad(
    db_engine: Engine, own_keys: KeyManager
) -> None:
    """An insider holding an old audit key cannot seal with a date after its window."""
    add(db_engine, 2)
    record = own_keys.registry.audit_signers[0]
    late = record.signing_not_after + DAY
    own_keys.refresh_crl(late, force=True)
    with Session(db_engine) as session, session.begin():
        head = session.get(AuditHead, 1)
        assert head is not None
        message = checkpoint_message(head.seq, head.entry_hash, late)
        handle = KeyHandle(own_keys.store.kind, record.id, record.algorithm)
        signature = own_keys.store.sign(handle, message)
        pem = own_keys.certificate(record.cert_file).public_bytes(serialization.Encoding.PEM)
        session.add(
            AuditCheckpoint(
                seq=head.seq,
                entry_hash=head.entry_hash,
                time=late,
                signer_id=record.id,
                signature=signature.hex(),
                certificate=pem.decode(),
            )
        )
    report = check(db_engine, local_trust(own_keys), late + HOUR)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "not trusted" in (report.reason or "")


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="permit")
    sub = parser.add_subparsers(dest="command", required=True)
    audit_cli.register(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_verify_names_the_document_signed_checkpoint(
    db_url: str,
    db_engine: Engine,
    key_manager: KeyManager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PERMIT_DATABASE_URL", db_url)
    now = NOW + HOUR
    monkeypatch.setattr(audit_cli, "_now", lambda: now)
    add(db_engine, 4)
    create_checkpoint(db_engine, key_manager, NOW)
    add(db_engine, 3, start=10)
    forge_ds_checkpoint(db_engine, key_manager, NOW)
    trust_dir = tmp_path / "trust"
    key_manager.export_trust(trust_dir, now)
    assert _cli(["audit", "verify", "--trust", str(trust_dir)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("audit log BAD at entry 7:") and "not an audit signer" in out
    assert _cli(["audit", "verify", "--json", "--trust", str(trust_dir)]) == 1
    bad = json.loads(capsys.readouterr().out)
    assert (bad["ok"], bad["first_bad_seq"], bad["entries_checked"]) == (False, 7, 7)
    assert "not an audit signer" in bad["reason"]


def test_cli_checkpoint_creates_the_audit_signer_of_an_old_key_directory(
    db_url: str,
    db_engine: Engine,
    own_keys: KeyManager,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_legacy_key_directory(own_keys)
    monkeypatch.setenv("PERMIT_DATABASE_URL", db_url)
    for name, value in own_keys.settings.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PERMIT_KEY_STORE", raising=False)
    monkeypatch.setattr(audit_cli, "_now", lambda: NOW + HOUR)
    add(db_engine, 2)
    assert _cli(["audit", "checkpoint"]) == 0
    assert "checkpoint at entry 2 signed by audit-0001" in capsys.readouterr().out
    assert _cli(["audit", "verify"]) == 0
    assert "1 checkpoints" in capsys.readouterr().out


def test_no_key_bytes_in_audit_logs(
    db_engine: Engine, own_keys: KeyManager, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(1)
    add(db_engine, 2)
    create_checkpoint(db_engine, own_keys, NOW)
    own_keys.revoke_signer("audit-0001", "key-compromise", NOW + HOUR)
    add(db_engine, 1, start=10)
    create_checkpoint(db_engine, own_keys, NOW + 2 * HOUR)
    check(db_engine, local_trust(own_keys), NOW + 3 * HOUR)  # logs the bad checkpoint
    texts = [caplog.text, *(r.getMessage() for r in caplog.records)]
    haystack = "\n".join(texts)
    assert "audit-0001" in haystack  # the log says who signed, by id
    assert KEY_PASSPHRASE not in haystack
    for pem in sorted((own_keys.directory / "private").glob("audit-*.p8.pem")):
        key = serialization.load_pem_private_key(pem.read_bytes(), KEY_PASSPHRASE.encode())
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        raw = key.private_numbers().private_value.to_bytes(32, "big")
        assert raw.hex() not in haystack.lower() and raw.hex()[:16] not in haystack.lower()
