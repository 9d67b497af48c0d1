"""The application layer: one issuing office the CLI and the HTTP API stand on.

* :class:`Settings` - the one place that reads the environment;
* :class:`Office` - built once from settings, the use cases as methods, and the service's
  :attr:`~.core.OfficeCore.shared_state` (challenges, rate limits: :class:`SharedState`);
* :func:`ephemeral_office` / :class:`Sandbox` - the same on run-time keys, a temporary
  register and simulated readers (tests, demonstrations);
* :mod:`.errors` - the expected failures an entry point maps, all
  :class:`~permit_errors.PermitError`;
* ``Role``, ``ApiClient``, ``ClientView``, ``CreatedClient`` - the API clients' vocabulary
  (docs/clients.md), re-exported for entry points.

Entry points import the domain through this package only (tests/guards/test_cli_layering.py).
"""

from __future__ import annotations

from card_service.audit import AuditReport
from card_service.clients import ApiClient, Role
from card_service.clients.views import ClientStatus, ClientView, CreatedClient
from card_service.register.views import ApplicationDecision, PermitHistory, PermitView
from card_service.shared_state import (
    Challenge,
    ChallengeOutcome,
    RateDecision,
    SharedState,
    SharedStateUnavailable,
)
from card_service.shared_state.model import nonce_well_formed
from card_service.workflows.verify import (
    CardVerification,
    ClerkView,
    clerk_view,
    counter_verdict,
)

from .admin import ALGORITHMS, POLICY_DEFAULTS, REVOCATION_REASONS
from .ephemeral import EphemeralOffice, Sandbox, ephemeral_office
from .health import Check, Readiness, readiness
from .issuing import APPLICATION_MAX_BYTES
from .monitoring import (
    AUDIT_PAGE_MAX,
    AuditEntry,
    ReaderChange,
    TrustDocument,
    WitnessedCheckpointView,
)
from .office import Office
from .offline import (
    MAX_TRUST_DOCUMENT_BYTES,
    STATUS_LIST_FILE,
    InstalledTrust,
    ListInfo,
    OfflineVerification,
    TrustRefused,
)
from .relying import (
    PRESENTATION_FORMAT,
    OutOfScope,
    PermitNotFound,
    PermitStatus,
    Presentation,
    RelyingVerification,
    disclosed_scope,
)
from .relying_batch import PresentationRequest
from .results import (
    AuditSeal,
    CardTerminated,
    KeyRotation,
    KeysInitialised,
    ReaderStatus,
    RegisterMigrated,
    RootRolledOver,
    SampleRecord,
    SignerRevoked,
)
from .settings import Settings
from .verifying import ENDORSEMENTS_MAX_BYTES, RECORD_MAX_BYTES

__all__ = [
    "ALGORITHMS",
    "APPLICATION_MAX_BYTES",
    "AUDIT_PAGE_MAX",
    "ENDORSEMENTS_MAX_BYTES",
    "MAX_TRUST_DOCUMENT_BYTES",
    "POLICY_DEFAULTS",
    "PRESENTATION_FORMAT",
    "RECORD_MAX_BYTES",
    "REVOCATION_REASONS",
    "STATUS_LIST_FILE",
    "ApiClient",
    "ApplicationDecision",
    "AuditEntry",
    "AuditReport",
    "AuditSeal",
    "CardTerminated",
    "CardVerification",
    "Challenge",
    "ChallengeOutcome",
    "Check",
    "ClerkView",
    "ClientStatus",
    "ClientView",
    "CreatedClient",
    "EphemeralOffice",
    "InstalledTrust",
    "KeyRotation",
    "KeysInitialised",
    "ListInfo",
    "Office",
    "OfflineVerification",
    "OutOfScope",
    "PermitHistory",
    "PermitNotFound",
    "PermitStatus",
    "PermitView",
    "Presentation",
    "PresentationRequest",
    "RateDecision",
    "ReaderChange",
    "ReaderStatus",
    "Readiness",
    "RegisterMigrated",
    "RelyingVerification",
    "Role",
    "RootRolledOver",
    "SampleRecord",
    "Sandbox",
    "Settings",
    "SharedState",
    "SharedStateUnavailable",
    "SignerRevoked",
    "TrustDocument",
    "TrustRefused",
    "WitnessedCheckpointView",
    "clerk_view",
    "counter_verdict",
    "disclosed_scope",
    "ephemeral_office",
    "nonce_well_formed",
    "readiness",
]
