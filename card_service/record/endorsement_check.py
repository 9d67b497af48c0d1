"""The verifier's checks of the annual endorsements (EF.Endorsements) of one record.

Each endorsement must parse (tagged COSE_Sign1, strict payload), be signed by a signer the
trust list accepts at its ``endorsed_at`` (the same judgement as the record's signer, reason
codes prefixed ``endorsement_``), be bound to this permit and this MSO, and stand at its
place in the sequence; the periods of the good ones must follow the schedule
(:func:`card_service.record.schedule.endorsement_status`), which also says whether the permit
is suspended today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from .cbor_types import CborError, as_date
from .cose import CoseError, Sign1, parse_sign1
from .endorsement import (
    EndorsementFormatError,
    decode_endorsement,
    parse_endorsement_body,
    split_endorsements,
)
from .schedule import EndorsementStatus, endorsement_status, local_date
from .signer_check import SignerChecker
from .verdict import Reason, Verdict

__all__ = ["check_endorsements"]


def check_endorsements(
    endorsements: bytes | Sequence[bytes],
    elements: Mapping[str, Any],
    digest: bytes,
    now: dt.datetime,
    signers: SignerChecker,
    reasons: list[Reason],
) -> tuple[int, EndorsementStatus | None]:
    """The number of endorsements that count and the schedule status (``None`` without a
    signed ``first_endorsement_due``); problems go to ``reasons``.

    ``endorsements`` is the content of EF.Endorsements (a CBOR sequence) or a list of encoded
    items; ``elements`` the digest-verified elements, ``digest`` the SHA-256 of the record's
    MobileSecurityObjectBytes.
    """
    first_due = as_date(elements.get("first_endorsement_due"))
    permit_number = elements.get("permit_number")
    try:
        if isinstance(endorsements, bytes | bytearray | memoryview):
            items = split_endorsements(bytes(endorsements))
        else:
            items = [decode_endorsement(e) for e in endorsements]
    except (EndorsementFormatError, CborError, TypeError):
        reasons.append(
            Reason("endorsements_malformed", Verdict.MALFORMED, "endorsements are not CBOR")
        )
        items = []
    periods: list[tuple[dt.date, dt.date, dt.date]] = []
    for index, item in enumerate(items, start=1):
        try:
            sign1: Sign1 = parse_sign1(item, tagged=True)
            body = parse_endorsement_body(sign1.payload)
        except CoseError as exc:
            reasons.append(Reason(f"endorsement_{exc.code}", Verdict.MALFORMED, str(exc)))
            continue
        except EndorsementFormatError as exc:
            reasons.append(Reason("endorsement_malformed", Verdict.MALFORMED, str(exc)))
            continue
        key, chain_reasons = signers.check(sign1.x5chain, body.endorsed_at, now, "endorsement_")
        reasons.extend(chain_reasons)
        if key is None or not sign1.verify(key):
            reasons.append(
                Reason(
                    "endorsement_signature_invalid",
                    Verdict.FORGED,
                    "an endorsement signature does not verify",
                )
            )
            continue
        if body.permit_number != permit_number or body.mso_digest != digest:
            reasons.append(
                Reason(
                    "endorsement_not_bound",
                    Verdict.FORGED,
                    "an endorsement belongs to another permit or record",
                )
            )
            continue
        if chain_reasons:
            continue
        if body.sequence != index:
            reasons.append(
                Reason("endorsement_sequence", Verdict.MALFORMED, "endorsements out of order")
            )
            continue
        periods.append((local_date(body.endorsed_at), body.period_start, body.period_end))
    if first_due is None:
        return len(periods), None
    status = endorsement_status(
        first_due, periods, local_date(now), as_date(elements.get("residence_began"))
    )
    for _ in status.inconsistent:
        reasons.append(
            Reason(
                "endorsement_period_inconsistent",
                Verdict.MALFORMED,
                "an endorsement period breaks the schedule",
            )
        )
    return len(periods) - len(status.inconsistent), status
