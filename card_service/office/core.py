"""The office's composition: engine, register, key manager, issuer context, card access,
shared state (challenges, rate limits).

:class:`OfficeCore` builds each part on first use, from :class:`~.settings.Settings`, in the
order the commands always did (authority code and cadence, engine, card access, keys, then
the register that seals with the audit signer), so a command is refused only for what it
needs: revoking a permit opens no key store, ``permit keys`` opens no database.  An ephemeral
office (:mod:`.ephemeral`) hands the parts in ready-made instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from card_service.audit import WitnessDir
from card_service.card.access import CardAccess
from card_service.record import Verifier
from card_service.register.auditing import AuditNotRecorded
from card_service.register.db import make_engine, read_only
from card_service.register.service import Register
from card_service.shared_state import SharedState, SharedStateConfigError, open_shared_state
from card_service.workflows import IssuanceWorkflow, IssuerContext
from card_service.workflows.progress import ProgressSink
from keys.errors import KeysNotInitialised
from keys.pki import KeyManager
from keys.trust import TrustList
from permit_errors import withheld_traceback

from .cards import open_card_access
from .errors import OfficeError, RegisterUnavailable, SettingsError
from .settings import Settings

if TYPE_CHECKING:
    from ._workflows import Workflows

__all__ = ["IssuerSource", "OfficeCore"]

log = logging.getLogger(__name__)

#: The issuer context valid at an instant (keys from the store, or an ephemeral PKI).
IssuerSource = Callable[[dt.datetime], IssuerContext]

#: What a register failure during a card workflow says (never the driver's text).
WORKFLOW_DB_FAILED = (
    "register database failed ({name}): check PERMIT_DATABASE_URL and run 'permit register migrate'"
)
NO_KEYS = "no keys configured: run 'permit keys init' first"


class OfficeCore:
    """The parts of an issuing office, built once and on demand; closed with :meth:`close`."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        register: Register | None = None,
        cards: CardAccess | None = None,
        issuer: IssuerSource | None = None,
        trust: TrustList | None = None,
        verifier: Verifier | None = None,
        on_progress: ProgressSink | None = None,
    ) -> None:
        self.settings = settings
        self._engine_ = engine
        self._register_ = register
        self._reader_register: Register | None = register
        self._cards = cards
        self._issuer_source = issuer
        self._issuer: tuple[dt.datetime, IssuerContext] | None = None
        self._trust = trust
        self._verifier = verifier
        self._keys: KeyManager | None = None
        self._shared_state: SharedState | None = None
        self._parts_lock = threading.Lock()
        #: Progress of an issuance (the CLI prints the steps).
        self.on_progress = on_progress
        #: Whether this office composed its parts itself (and so disposes of them).
        self._owns_parts = engine is None

    # -- life cycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Release the database pool and the key store (idempotent)."""
        if self._keys is not None:
            self._keys.close()
            self._keys = None
        if self._shared_state is not None:
            self._shared_state.close()
            self._shared_state = None
        if self._engine_ is not None and self._owns_parts:
            self._engine_.dispose()

    def __enter__(self) -> OfficeCore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- parts ---------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The register database's engine; a bad URL is a :class:`SettingsError`."""
        if self._engine_ is None:
            try:
                self._engine_ = make_engine(self.settings.register_url())
            except ArgumentError:  # not a URL, or a database driver that is not installed
                raise SettingsError("PERMIT_DATABASE_URL is not a usable database URL") from None
            except ValueError as exc:  # unsupported database, in-memory SQLite
                raise SettingsError(str(exc)) from None
        return self._engine_

    @property
    def cards(self) -> CardAccess:
        """The one card seam (the reader driver of ``PERMIT_READERS``)."""
        if self._cards is None:
            self._cards = open_card_access(self.settings)
        return self._cards

    @property
    def shared_state(self) -> SharedState:
        """The service's challenges and rate limits (``PERMIT_REDIS_URL``: Redis, else in
        memory), built on first use; a bad setting is a :class:`SettingsError`."""
        if self._shared_state is None:
            with self._parts_lock:  # the service's threads ask at once: open it once
                if self._shared_state is None:
                    try:
                        self._shared_state = open_shared_state(self.settings)
                    except SharedStateConfigError as exc:
                        raise SettingsError(str(exc)) from None
        return self._shared_state

    def key_manager(self) -> KeyManager:
        """The configured key store's manager (opened once, closed with the office)."""
        if self._keys is None:
            self._keys = KeyManager(self.settings.key_settings())
        return self._keys

    def issuer(self, now: dt.datetime) -> IssuerContext:
        """SCP03 keys, the current document signer and the trust list at ``now`` (the last
        one is kept: a use case asks several times for the same instant)."""
        if self._issuer is None or self._issuer[0] != now:
            uri = self.settings.status_uri()  # every record's status reference names it
            if self._issuer_source is not None:
                context = self._issuer_source(now)
            else:
                manager = self.key_manager()
                if not manager.initialised():
                    raise KeysNotInitialised(NO_KEYS)
                try:
                    context = IssuerContext.from_key_manager(manager, now)
                except ValueError as exc:  # a signer that is not P-256
                    raise OfficeError(str(exc)) from None
            self._issuer = (now, dataclasses.replace(context, status_list_uri=uri))
        return self._issuer[1]

    def register(self, *, sealing: bool = True) -> Register:
        """The register for the officer's use cases (authority code, audit cadence).

        ``sealing``: with the key store's audit signer, so writes seal the audit log every
        ``PERMIT_AUDIT_CHECKPOINT_EVERY`` entries; without (``revoke`` opens no key store),
        the seal is left to the next use case that has the keys.
        """
        if self._register_ is None:
            code, every = self.settings.authority_code(), self.settings.checkpoint_every()
            engine = self.engine
            _ = self.cards  # an unusable PERMIT_READERS is refused here, as it always was
            signer = None
            if sealing:
                signer = self.key_manager()
            self._register_ = Register(
                engine,
                authority_code=code,
                checkpoint_signer=signer,
                checkpoint_every=every,
                checkpoint_witness=WitnessDir(self.settings.witness_dir()),
            )
        return self._register_

    def reader_register(self) -> Register:
        """A read-only register (no authority code): for look-ups (on SQLite its reads
        take a WAL snapshot and do not queue behind writers: ``register.db.read_only``)."""
        if self._reader_register is None:
            self._reader_register = Register(read_only(self.engine))
        return self._reader_register

    def trust_list(self) -> TrustList:
        """The local trust list: every root, link and root CRL of the key directory."""
        if self._trust is not None:
            return self._trust
        return self.key_manager().trust_list()

    def workflows(self, now: dt.datetime, *, keys: bool = True) -> Workflows:
        """Today's card workflows, bound to this office's parts: the one place they are
        constructed.  ``keys=False`` (revoke) opens no key store."""
        from ._workflows import Workflows

        register = self.register(sealing=keys and self._issuer_source is None)
        issuer = self.issuer(now) if keys else None
        workflow = None
        if issuer is not None:
            workflow = IssuanceWorkflow(
                register,
                issuer,
                self.cards,
                on_progress=self.on_progress,
                verifier=self._verifier,
            )
        return Workflows(register, issuer, self.cards, workflow)

    # -- failures ------------------------------------------------------------------------

    @contextlib.contextmanager
    def database(self, message: str = WORKFLOW_DB_FAILED) -> Iterator[None]:
        """Turn a database failure into :class:`RegisterUnavailable` (``message`` with the
        exception's class ``{name}``: never the driver's text, which may carry SQL parameters
        or the URL)."""
        try:
            yield
        except SQLAlchemyError as exc:
            log.debug("register database failure:\n%s", withheld_traceback(exc))
            raise RegisterUnavailable(message.format(name=type(exc).__name__)) from None
        except AuditNotRecorded as exc:  # the group commit holding the entry failed
            raise RegisterUnavailable(message.format(name=exc.cause)) from None
