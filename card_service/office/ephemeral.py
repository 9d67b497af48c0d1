"""The ephemeral office: run-time keys, a migrated register and simulated readers.

Tests, benchmarks and demonstrations need the whole issuing office - a register, a document
signer under a root, an SCP03 master key, readers - without a key store on disk.
:meth:`Sandbox.create` is the one composition root for that case: it builds the parts from
an :class:`~card_service.record.ephemeral_pki.EphemeralPki` and a random AES master key, both
generated at run time and kept in memory only, so nothing it signs can ever be trusted
outside the run.  :meth:`Sandbox.office` (or :func:`ephemeral_office`, which also makes a
temporary register and a simulated reader driver) puts an :class:`EphemeralOffice` - the
same use cases as a configured :class:`~.office.Office` - over those parts.

Cards for it are made by the caller (the simulator, which the domain does not import): they
need :attr:`Sandbox.master_key` and :attr:`Sandbox.kvn`.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from card_service.card.access import CardAccess
from card_service.card.scp03 import StaticKeys, diversify_card_keys
from card_service.migrations import upgrade
from card_service.record import Verifier
from card_service.record.ephemeral_pki import EphemeralPki
from card_service.register.db import make_engine
from card_service.register.service import Register
from card_service.status.token import ListSigner
from card_service.workflows.application import PermitApplication, synthetic_application
from card_service.workflows.issuance import IssuanceWorkflow
from card_service.workflows.issuer import IssuerContext
from card_service.workflows.progress import ProgressSink, StepHook, utc
from keys.pki import KeyManager
from reader_drivers.base import ReaderDriver
from reader_drivers.sim import SimReaderDriver

from .errors import RequestInvalid
from .office import Office
from .settings import Settings

__all__ = ["SANDBOX_AUTHORITY", "EphemeralOffice", "Sandbox", "ephemeral_office"]

#: GB/T 2260 code used for sandbox permit numbers (Hangzhou, Xihu district).
SANDBOX_AUTHORITY = "330106"


@dataclass
class Sandbox:
    """The parts of an issuing station on ephemeral keys.  Not for real permits."""

    engine: Engine
    register: Register
    issuer: IssuerContext
    driver: ReaderDriver
    now: dt.datetime
    master_key: bytes = field(repr=False)
    pki: EphemeralPki = field(repr=False)
    kvn: int = 1
    #: Seed of the next synthetic applicant (:meth:`application`).
    seed: int = 0
    #: One verifier for the station's read-back checks: it caches the validated signer, as
    #: a long-running issuing service would (a workflow without one makes its own).
    verifier: Verifier | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        url: str,
        driver: ReaderDriver,
        now: dt.datetime,
        *,
        pki: EphemeralPki | None = None,
        authority_code: str = SANDBOX_AUTHORITY,
        kvn: int = 1,
        migrate: bool = True,
    ) -> Sandbox:
        """A station on the database at ``url`` (migrated unless ``migrate`` is false, for a
        second process sharing a database another one migrated)."""
        now = utc(now)
        pki = pki or EphemeralPki.create(now - dt.timedelta(days=30))
        signer = pki.new_signer(now - dt.timedelta(days=10))
        engine = make_engine(url)
        if migrate:
            upgrade(engine)
        register = Register(engine, authority_code=authority_code)
        master_key = os.urandom(16)

        def key_provider(serial: bytes, version: int) -> StaticKeys:
            return diversify_card_keys(master_key, serial, version)

        issuer = IssuerContext(key_provider, signer.key, signer.chain, pki.trust(now))
        return cls(
            engine,
            register,
            issuer,
            driver,
            now,
            master_key,
            pki,
            kvn,
            verifier=Verifier(issuer.trust),
        )

    def issuer_at(self, now: dt.datetime) -> IssuerContext:
        """The same office later: a document signer certified at ``now`` (as rotation gives)
        and the trust list with a CRL issued at ``now``; the same card master key."""
        signer = self.pki.new_signer(utc(now))
        return IssuerContext(
            self.issuer.key_provider, signer.key, signer.chain, self.pki.trust(utc(now))
        )

    def key_provider(self, serial: bytes, kvn: int) -> StaticKeys:
        return diversify_card_keys(self.master_key, serial, kvn)

    def application(self, *, portrait_bytes: int = 4_000) -> tuple[PermitApplication, int]:
        """A new approved application of a synthetic person (colliding people are skipped)."""
        while True:
            self.seed += 1
            app = synthetic_application(self.now, seed=self.seed, portrait_bytes=portrait_bytes)
            decision = self.register.submit_application(
                app.applicant_data(), app.application_data(), "officer", self.now
            )
            if decision.approved:
                return app, decision.application_id

    def workflow(
        self, *, hook: StepHook | None = None, on_progress: ProgressSink | None = None
    ) -> IssuanceWorkflow:
        return IssuanceWorkflow(
            self.register,
            self.issuer,
            CardAccess(self.driver),
            hook=hook,
            on_progress=on_progress,
            verifier=self.verifier,
        )

    def office(self, settings: Settings | None = None) -> EphemeralOffice:
        """The use cases over these parts (closing the office closes the station)."""
        return EphemeralOffice(self, settings or Settings())

    def close(self) -> None:
        self.engine.dispose()


class EphemeralOffice(Office):
    """An :class:`~.office.Office` on a :class:`Sandbox`: no key store (key administration
    and sealing the audit log are refused), the sandbox's issuer and trust list."""

    def __init__(
        self, station: Sandbox, settings: Settings, *, temporary: Path | None = None
    ) -> None:
        super().__init__(
            settings,
            engine=station.engine,
            register=station.register,
            cards=CardAccess(station.driver),
            issuer=lambda _now: station.issuer,
            trust=station.issuer.trust,
            verifier=station.verifier,
        )
        self.station = station
        self._temporary = temporary
        self._status_signer: ListSigner | None = None

    def key_manager(self) -> KeyManager:
        raise RequestInvalid("an ephemeral office has no key store")

    def status_list_signer(self, now: dt.datetime) -> ListSigner:
        """A status-list signer of the sandbox's run-time PKI, certified on first use."""
        if self._status_signer is None:
            self._status_signer = self.station.pki.new_status_signer(now - dt.timedelta(minutes=1))
        return self._status_signer

    def close(self) -> None:
        super().close()
        self.station.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None


def ephemeral_office(
    now: dt.datetime,
    *,
    url: str | None = None,
    driver: ReaderDriver | None = None,
    slots: int = 2,
    pki: EphemeralPki | None = None,
    authority_code: str = SANDBOX_AUTHORITY,
    settings: Settings | None = None,
) -> EphemeralOffice:
    """An office on ephemeral keys: the register at ``url`` (default a temporary SQLite
    file, removed on close) and ``driver`` (default ``slots`` simulated readers, empty);
    ``settings`` for what else the office reads (e.g. ``PERMIT_STATUS_LIST_URI``)."""
    temporary = None
    if url is None:
        temporary = Path(tempfile.mkdtemp(prefix="permit-ephemeral-"))
        url = f"sqlite:///{temporary / 'register.db'}"
    station = Sandbox.create(
        url,
        driver if driver is not None else SimReaderDriver(slots=slots),
        now,
        pki=pki,
        authority_code=authority_code,
    )
    return EphemeralOffice(station, settings or Settings(), temporary=temporary)
