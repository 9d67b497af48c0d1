"""Article 2 eligibility (Interim Regulations on Residence Permits, 2016).

A person may apply when they have resided at the residence address for *more than* six
months (on the day six months after residence began they are not yet eligible; the next day
they are) and have one basis - legal stable employment, legal stable residence or continuous
study - with an evidence reference.  "Six months after" is the same day six months later,
clipped to the end of a shorter month (31 August -> 28/29 February).

Rejections are machine-readable reason codes (:class:`Reason`); none of them echoes personal
data.  The "one active permit per person" rule needs the register and is checked by
:mod:`.service` (reason ``active_permit_exists``), backed by a unique index.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from card_service.record import citizen_id

from .models import Basis

__all__ = ["Eligibility", "Reason", "check_eligibility", "six_months_after"]


class Reason(StrEnum):
    ID_NUMBER_INVALID = "id_number_invalid"
    NAME_MISSING = "name_missing"
    ADDRESS_MISSING = "address_missing"
    RESIDENCE_BEGAN_IN_FUTURE = "residence_began_in_future"
    RESIDENCE_TOO_SHORT = "residence_too_short"
    BASIS_MISSING = "basis_missing"
    BASIS_UNKNOWN = "basis_unknown"
    EVIDENCE_MISSING = "evidence_missing"
    ACTIVE_PERMIT_EXISTS = "active_permit_exists"


@dataclass(frozen=True)
class Eligibility:
    reasons: tuple[Reason, ...]

    @property
    def eligible(self) -> bool:
        return not self.reasons


def six_months_after(day: dt.date) -> dt.date:
    month = day.month + 6
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def check_eligibility(
    *,
    id_number: str,
    name: str,
    residence_address: str,
    residence_began: dt.date,
    basis: str | None,
    evidence_ref: str | None,
    today: dt.date,
) -> Eligibility:
    """Every Article 2 reason against the application (empty: eligible).

    ``today`` is the local date of the decision (``schedule.local_date(now)``).
    """
    reasons: list[Reason] = []
    if citizen_id.check(id_number):
        reasons.append(Reason.ID_NUMBER_INVALID)
    if not name.strip():
        reasons.append(Reason.NAME_MISSING)
    if not residence_address.strip():
        reasons.append(Reason.ADDRESS_MISSING)
    if residence_began > today:
        reasons.append(Reason.RESIDENCE_BEGAN_IN_FUTURE)
    elif today <= six_months_after(residence_began):
        reasons.append(Reason.RESIDENCE_TOO_SHORT)
    if basis is None or not basis.strip():
        reasons.append(Reason.BASIS_MISSING)
    elif basis not in {b.value for b in Basis}:
        reasons.append(Reason.BASIS_UNKNOWN)
    if evidence_ref is None or not evidence_ref.strip():
        reasons.append(Reason.EVIDENCE_MISSING)
    return Eligibility(tuple(reasons))
