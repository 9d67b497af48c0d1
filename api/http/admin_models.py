"""Models of the administration, audit, trust and reader-event routes (JSON views of the
office's results; conversions next to the models, so routes stay one call)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from card_service.office import (
    AuditEntry,
    AuditReport,
    ClientView,
    CreatedClient,
    ReaderChange,
    Role,
    TrustDocument,
    WitnessedCheckpointView,
)

__all__ = [
    "AuditEntryModel",
    "AuditPage",
    "AuditReportModel",
    "CheckpointModel",
    "CheckpointPage",
    "Client",
    "ClientCreated",
    "ClientRequest",
    "ExpiryRequest",
    "ReaderEventModel",
    "TrustModel",
]


class ClientRequest(BaseModel):
    """A new API client: ``scope`` (disclosure elements) only for ``relying_party``."""

    model_config = {"extra": "forbid"}

    name: str = Field(min_length=1, max_length=128, examples=["Example Bank terminal 1"])
    role: Role
    scope: list[str] = Field(default_factory=list, max_length=64, examples=[["full_name"]])
    expires_at: dt.datetime | None = Field(default=None, description="UTC; in the future")


class ExpiryRequest(BaseModel):
    """When the client's key stops working (default: now)."""

    model_config = {"extra": "forbid"}

    at: dt.datetime | None = None


class Client(BaseModel):
    """An API client as an administrator sees it: never its key or the key's hash."""

    client_id: str
    name: str
    role: Role
    scope: list[str]
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    status: Literal["active", "expired", "revoked"]

    @classmethod
    def of(cls, view: ClientView) -> Client:
        return cls.model_validate(view.to_json())


class ClientCreated(BaseModel):
    """The new client and its key: shown this once (the response is ``no-store``)."""

    client: Client
    key: str = Field(description="the API key; never shown again, never logged")

    @classmethod
    def of(cls, created: CreatedClient) -> ClientCreated:
        return cls(client=Client.of(created.client), key=created.key)


class AuditEntryModel(BaseModel):
    """One audit entry as stored: no name, ID number, address or portrait."""

    seq: int
    time: dt.datetime
    actor: str
    action: str
    permit_number: str | None
    result: str
    prev_hash: str
    entry_hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryModel:
        return cls.model_validate(entry.to_json())


class AuditPage(BaseModel):
    entries: list[AuditEntryModel]
    #: ``after`` of the next page (the last ``seq``), ``None`` when this page was not full.
    next_after: int | None


class AuditReportModel(BaseModel):
    """The audit log's verification, as ``permit audit verify --json`` prints it."""

    ok: bool
    entries_checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    checkpoints_checked: int = 0
    last_checkpoint_seq: int | None = None
    unsealed_entries: int | None = None
    signers_trusted: bool = False
    status: Literal["ok", "bad", "unwitnessed"] = "ok"
    witness_checked: bool = False
    witnessed_checkpoints: int = 0
    last_witnessed_seq: int | None = None
    unwitnessed_seqs: list[int] = Field(default_factory=list)

    @classmethod
    def of(cls, report: AuditReport) -> AuditReportModel:
        return cls.model_validate(report.to_json())


class CheckpointModel(BaseModel):
    """A signed checkpoint as witnessed: the signature (hex, by ``certificate``'s audit
    signer) is over ``checkpoint_message(seq, entry_hash, time)``; ``document`` is the
    witness file's exact canonical JSON."""

    seq: int
    entry_hash: str
    time: dt.datetime
    signer_id: str
    signature: str
    certificate: str
    document: str

    @classmethod
    def of(cls, cp: WitnessedCheckpointView) -> CheckpointModel:
        return cls(
            seq=cp.seq,
            entry_hash=cp.entry_hash,
            time=cp.time,
            signer_id=cp.signer_id,
            signature=cp.signature,
            certificate=cp.certificate,
            document=cp.document,
        )


class CheckpointPage(BaseModel):
    checkpoints: list[CheckpointModel]
    next_after: int | None


class TrustModel(BaseModel):
    """``permit keys export-trust`` in one document: ``manifest`` is ``manifest.json``
    (format ``permit-trust-v1``), ``files`` the PEM files it names (name -> PEM text).
    Writing each file and the manifest into a directory gives what ``--trust DIR`` reads."""

    format: Literal["permit-trust-bundle-v1"] = "permit-trust-bundle-v1"
    manifest: dict[str, Any]
    files: dict[str, str]

    @classmethod
    def of(cls, document: TrustDocument) -> TrustModel:
        return cls(manifest=document.manifest, files=document.files)


class ReaderEventModel(BaseModel):
    """The data of one ``reader`` event of ``GET /v1/readers/events``."""

    reader: str
    kind: Literal["card_inserted", "card_removed", "reader_added", "reader_removed"]
    atr: str | None = Field(default=None, description="the inserted card's ATR, hex")

    @classmethod
    def of(cls, change: ReaderChange) -> ReaderEventModel:
        return cls.model_validate(change.to_json())
