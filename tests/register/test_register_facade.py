"""``Register`` is a facade over the register's modules (issue 10): its public API is the one
the workflows, the CLI and the tests have always called, method for method, parameter for
parameter (names, order, keyword-only, defaults) and return type for return type."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from card_service.register.service import Register

#: The public API before the split (card_service/register/service.py at issue 10's start),
#: plus what was added since (``status_entries``; ``lock_card(pin_reset=)``, the resumed
#: issuance's new PIN letter; issue 11): parameters after ``self``
#: (``*``: keyword-only, ``=``: default) ``->`` return annotation.
API = {
    "abandon": "permit_number reason now actor='issuer' -> PermitView",
    "check_application": "application_id applicant application -> None",
    "confirm_locked": "permit_number now actor='issuer' -> None",
    "effective_state": "permit_number now -> str",
    "endorsement_status": "permit_number now -> ResidenceStatus",
    "id_number_hmac": "id_number -> str",
    "lock_card": (
        "permit_number card_serial now actor='issuer' *lock=None *pin_reset=False -> None"
    ),
    "lock_pending": "application_id=None -> list[PermitView]",
    "mark_issued": "permit_number mso_digest record_digest now actor='issuer' -> PermitView",
    "pending_issuances": "*application_id=None *card_serial=None -> list[Reservation]",
    "status_entries": "now -> StatusEntries",
    "permit": "permit_number -> PermitView",
    "permit_for_card": "card_serial -> PermitView | None",
    "permit_facts": "permit_number -> PermitFacts | None",
    "permit_facts_each": "permit_numbers -> list[PermitFacts | None]",
    "person_key": " -> bytes",
    "record_endorsement": "permit_number now actor='officer' -> EndorsementRecord",
    "record_verification": "permit_number result actor now -> None",
    "record_verifications": "entries -> list[str | None]",
    "replace": (
        "permit_number reason new_card_serial actor now *lock_pending_only=False -> Reservation"
    ),
    "reserve_permit": "application_id card_serial now actor='issuer' -> Reservation",
    "revoke": "permit_number reason effective_at actor now -> PermitView",
    "submit_application": "applicant application actor now -> ApplicationDecision",
    "terminate_card": "card_serial actor now -> None",
    "years_of_residence": "permit_number now -> int",
}
INIT = (
    "engine *authority_code=None *checkpoint_signer=None *checkpoint_every=100 "
    "*checkpoint_witness=None -> None"
)


def shape(function: Callable[..., Any]) -> str:
    signature = inspect.signature(function)
    parts = []
    for p in list(signature.parameters.values())[1:]:
        text = ("*" if p.kind is p.KEYWORD_ONLY else "") + p.name
        if p.default is not p.empty:
            text += "=" + repr(p.default)
        parts.append(text)
    return " ".join(parts) + " -> " + str(signature.return_annotation)


def test_public_api_is_unchanged() -> None:
    public = {
        name: shape(getattr(Register, name))
        for name in dir(Register)
        if not name.startswith("_") and callable(getattr(Register, name))
    }
    assert public == API
    assert shape(Register.__init__) == INIT
