"""Officer workflows: issue, verify, endorse, revoke, replace, terminate, reconcile.

See ``docs/workflows.md`` for the crash-safety argument (ordering, invariants, recovery).
"""

from __future__ import annotations

from .application import ApplicationError, PermitApplication, load_application
from .card_state import CardCondition, CardStatus, classify_card
from .issuance import IssuanceError, IssuanceResult, IssuanceWorkflow
from .issuer import IssuerContext
from .progress import ProgressEvent, SimulatedCrash, Step
from .reconcile import ReconcileOutcome, reconcile

__all__ = [
    "ApplicationError",
    "CardCondition",
    "CardStatus",
    "IssuanceError",
    "IssuanceResult",
    "IssuanceWorkflow",
    "IssuerContext",
    "PermitApplication",
    "ProgressEvent",
    "ReconcileOutcome",
    "SimulatedCrash",
    "Step",
    "classify_card",
    "load_application",
    "reconcile",
]
