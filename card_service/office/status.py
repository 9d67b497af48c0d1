"""The signed status list use case: every permit's status in one Token Status List.

Built from the register's snapshot (:meth:`Register.status_entries`: the index of a permit
is its register row id) and signed by the current status-list signer (its own certificate
under the root, docs/status-list.md).  Verifiers fetch it once per ``ttl`` instead of asking
per card.  The signed token is kept for :data:`REBUILD_AFTER` and rebuilt after that, so a
revocation is in the list served at most that long after it was recorded (plus whatever a
verifier's cached copy adds: at most ``ttl``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from card_service.status.builder import DEFAULT_LIFETIME, build_status_list
from card_service.status.token import ListSigner
from keys.clock import require_utc

from .core import OfficeCore

__all__ = ["REBUILD_AFTER", "STATUS_LIST_TTL", "SignedStatusList", "StatusListUseCases"]

log = logging.getLogger(__name__)

#: Seconds a verifier may cache the list (the token's ``ttl``).
STATUS_LIST_TTL = 300
#: How long a built token is served before it is rebuilt from the register.
REBUILD_AFTER = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class SignedStatusList:
    """The Status List Token (CWT bytes) and what a server says about it."""

    token: bytes
    uri: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    ttl: int
    size: int
    #: Indices per status value (0 valid, 1 invalid, 2 suspended): counts, no identities.
    counts: dict[int, int]


class StatusListUseCases(OfficeCore):
    """The status list (mixed into :class:`~.office.Office`)."""

    #: One build at a time (the service calls use cases from worker threads).
    _status_lock = threading.Lock()
    #: The last token built (served until it is :data:`REBUILD_AFTER` old).
    _status_kept: SignedStatusList | None = None

    def status_list_signer(self, now: dt.datetime) -> ListSigner:
        """The key and chain that sign the status list at ``now`` (the key store's
        status-list signer; an ephemeral office has its own)."""
        return self.key_manager().status_signer(now)

    def status_list(self, now: dt.datetime) -> SignedStatusList:
        """The signed status list at ``now`` (rebuilt when the kept one is older than
        :data:`REBUILD_AFTER`, or from a later clock than ``now``)."""
        now = require_utc(now)
        kept = self._status_kept
        if kept is not None and kept.issued_at <= now < kept.issued_at + REBUILD_AFTER:
            return kept
        with self._status_lock:
            kept = self._status_kept
            if kept is not None and kept.issued_at <= now < kept.issued_at + REBUILD_AFTER:
                return kept
            built = self._build_status_list(now)
            self._status_kept = built
            return built

    def _build_status_list(self, now: dt.datetime) -> SignedStatusList:
        uri = self.settings.status_uri()
        with self.database("cannot read the register ({name})"):
            entries = self.reader_register().status_entries(now)
        issued = now.replace(microsecond=0)
        token = build_status_list(
            entries.statuses,
            entries.size,
            uri,
            self.status_list_signer(now),
            issued,
            STATUS_LIST_TTL,
            lifetime=DEFAULT_LIFETIME,
        )
        log.info("status list built: %d indices, %d bytes", entries.size, len(token))
        return SignedStatusList(
            token,
            uri,
            issued,
            issued + DEFAULT_LIFETIME,
            STATUS_LIST_TTL,
            entries.size,
            entries.counts,
        )
