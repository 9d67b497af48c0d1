"""The register's shared plumbing: one write transaction, and the row helpers every use case
reads through.

:class:`Store` holds what a register is configured with (engine, issuing authority, audit
sealing); :func:`write` runs each use case as *one* transaction: the state change
and its audit entry commit together or not at all; a unique-index violation becomes a
register error; afterwards the audit log is sealed if a checkpoint is due.  The use-case
modules (:mod:`.applications`, :mod:`.issuance`, :mod:`.locking`, :mod:`.endorsements`,
:mod:`.revocations`, :mod:`.cards`) are functions over a :class:`Store`;
:class:`~.service.Register` is the facade that combines them.

The helpers below take the caller's session and issue exactly the statements they always
did (docs/register.md, "Lock order"): none opens a transaction of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from card_service.audit import CheckpointSigner, WitnessDir, maybe_checkpoint

from .db import read_only, transaction
from .errors import ActivePermitExists, CardBusy, InvalidState, NotFound
from .models import LIVE_PERMIT_STATES, Endorsement, Permit, RegisterMeta, Revocation
from .permit_numbers import check_authority_code
from .residence import EndorsementView
from .types import require_utc
from .views import PermitView

__all__ = [
    "Store",
    "authority",
    "endorsement_rows",
    "get_permit",
    "insert_ignore",
    "live_permit",
    "load_view",
    "seal_if_due",
    "write",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Store:
    """A register's configuration (engine, authority, audit sealing) and its person key."""

    def __init__(
        self,
        engine: Engine,
        *,
        authority_code: str | None = None,
        checkpoint_signer: CheckpointSigner | None = None,
        checkpoint_every: int = 100,
        checkpoint_witness: WitnessDir | None = None,
    ) -> None:
        self.engine = engine
        #: GB/T 2260 code of the issuing authority; ``None`` for a read-only register.
        self.authority_code = (
            None if authority_code is None else check_authority_code(authority_code)
        )
        self.checkpoint_signer = checkpoint_signer
        self.checkpoint_every = checkpoint_every
        #: Every checkpoint is also written there (docs/register.md, "Witness").
        self.checkpoint_witness = checkpoint_witness
        self._person_key: bytes | None = None

    def person_key(self) -> bytes:
        if self._person_key is None:
            with Session(self.engine) as session:
                meta = session.get(RegisterMeta, "person_key")
                if meta is None:
                    raise InvalidState("register_meta has no person key: run the migrations")
                self._person_key = bytes.fromhex(meta.value)
        return self._person_key

    def id_number_hmac(self, id_number: str) -> str:
        """HMAC-SHA256 of the (upper-cased) ID number under the register's person key."""
        key = self.person_key()
        return hmac.new(key, id_number.strip().upper().encode(), hashlib.sha256).hexdigest()


def write(store: Store, now: dt.datetime, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction, then seal the audit log if a checkpoint is due.

    A unique-index violation is mapped to :class:`ActivePermitExists` / :class:`CardBusy`."""
    require_utc(now)
    try:
        with transaction(store.engine) as session:
            result = work(session)
    except IntegrityError as exc:
        mapped = _integrity_error(exc)
        if mapped is exc:
            raise
        raise mapped from None
    seal_if_due(store, now)
    return result


def seal_if_due(store: Store, now: dt.datetime) -> None:
    """After a committed write: sign a checkpoint if one is due (and a signer is set).

    A failure is logged, never raised: the state change stands, the chain is intact, and the
    next write retries the seal.
    """
    if store.checkpoint_signer is None:
        return
    try:
        maybe_checkpoint(
            store.engine,
            store.checkpoint_signer,
            store.checkpoint_every,
            now,
            store.checkpoint_witness,
            probe=read_only(store.engine),
        )
    except Exception:  # the chain is intact; the next write retries the seal
        log.exception("audit checkpoint failed")


def authority(store: Store) -> str:
    """The issuing authority code; :class:`InvalidState` on a read-only register."""
    if store.authority_code is None:
        raise InvalidState("no issuing authority code configured (PERMIT_AUTHORITY_CODE)")
    return store.authority_code


def _integrity_error(exc: IntegrityError) -> Exception:
    """Map a unique-index violation to a register error (without echoing key values)."""
    text = str(exc.orig)
    if "uq_permit_active_person" in text or "permit.applicant_id" in text:
        return ActivePermitExists("the person already holds an active permit")
    if "uq_permit_live_card" in text or "permit.card_serial" in text:
        return CardBusy("the card is bound to another pending or issued permit")
    return exc


def get_permit(session: Session, number: str, *, lock: bool = True) -> Permit:
    """The permit row (``FOR UPDATE`` unless ``lock=False``); :class:`NotFound` if none."""
    stmt = select(Permit).where(col(Permit.number) == number)
    if lock:
        stmt = stmt.with_for_update()
    permit: Permit | None = session.execute(stmt).scalars().one_or_none()
    if permit is None:
        raise NotFound("no such permit")
    return permit


def insert_ignore(session: Session, model: type[object], **values: object) -> None:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the session's dialect."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


def live_permit(session: Session, applicant_id: int) -> Permit | None:
    """The person's RESERVED or ISSUED permit, if any."""
    return (
        session.execute(
            select(Permit).where(
                col(Permit.applicant_id) == applicant_id,
                col(Permit.state).in_(LIVE_PERMIT_STATES),
            )
        )
        .scalars()
        .first()
    )


def endorsement_rows(session: Session, permit_id: int) -> list[Endorsement]:
    """The permit's endorsements in order."""
    return list(
        session.execute(
            select(Endorsement)
            .where(col(Endorsement.permit_id) == permit_id)
            .order_by(col(Endorsement.sequence))
        ).scalars()
    )


def load_view(session: Session, permit: Permit) -> PermitView:
    """The immutable view of ``permit`` with its endorsements and revocation (two queries)."""
    assert permit.id is not None
    endorsements = tuple(
        EndorsementView(e.endorsed_on, e.period_start, e.period_end, e.recorded_at, e.late)
        for e in endorsement_rows(session, permit.id)
    )
    revocation = session.execute(
        select(Revocation).where(col(Revocation.permit_id) == permit.id)
    ).scalar_one_or_none()
    revoked = None if revocation is None else (revocation.reason, revocation.effective_at)
    return PermitView.of(permit, endorsements, revoked)
