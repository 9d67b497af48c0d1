"""The signed permit record: ISO/IEC 18013-5 IssuerSigned data, selective disclosure,
annual endorsements and the verifier.  See ``docs/record-format.md``.

Layer 3 (domain): imports ``card_service.card.wire`` and ``keys`` only.
"""

from __future__ import annotations

from .data import PermitBasis, PermitData, Sex
from .disclosure import BANK, MERCHANT, present
from .endorsement import endorse
from .errors import FieldProblem, RecordError, RecordValidationError, SigningError
from .issuer_signed import sign_record
from .mso import DOC_TYPE, NAMESPACE
from .status_ref import ListStatus, StatusKind, StatusLookup, StatusReference
from .verdict import Reason, Verdict, VerificationResult
from .verifier import CardProof, RevocationEntry, RevocationStatus, Verifier, verify

__all__ = [
    "BANK",
    "DOC_TYPE",
    "MERCHANT",
    "NAMESPACE",
    "CardProof",
    "FieldProblem",
    "ListStatus",
    "PermitBasis",
    "PermitData",
    "Reason",
    "RecordError",
    "RecordValidationError",
    "RevocationEntry",
    "RevocationStatus",
    "Sex",
    "SigningError",
    "StatusKind",
    "StatusLookup",
    "StatusReference",
    "Verdict",
    "VerificationResult",
    "Verifier",
    "endorse",
    "present",
    "sign_record",
    "verify",
]
