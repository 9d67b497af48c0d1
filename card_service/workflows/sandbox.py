"""A throw-away issuing station: run-time keys, a migrated register and a reader driver.

Tests, benchmarks and demonstrations need the whole issuing office - a register, a document
signer under a root, an SCP03 master key, a reader driver - without a key store on disk.
:class:`Sandbox` builds one from an :class:`~card_service.record.ephemeral_pki.EphemeralPki`
and a random AES master key, both generated at run time and kept in memory only, so nothing
it signs can ever be trusted outside the run.  Cards for it are made by the caller (the
simulator, which the domain does not import): they need :attr:`Sandbox.master_key` and
:attr:`Sandbox.kvn`.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

from sqlalchemy import Engine

from card_service.card.access import CardAccess
from card_service.card.scp03 import StaticKeys, diversify_card_keys
from card_service.migrations import upgrade
from card_service.record import Verifier
from card_service.record.ephemeral_pki import EphemeralPki
from card_service.register.db import make_engine
from card_service.register.service import Register
from reader_drivers.base import ReaderDriver

from .application import PermitApplication, synthetic_application
from .issuance import IssuanceWorkflow
from .issuer import IssuerContext
from .progress import ProgressSink, StepHook, utc

__all__ = ["Sandbox"]

#: GB/T 2260 code used for sandbox permit numbers (Hangzhou, Xihu district).
SANDBOX_AUTHORITY = "330106"


@dataclass
class Sandbox:
    """An issuing station on ephemeral keys.  Not for real permits."""

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

    def close(self) -> None:
        self.engine.dispose()
