"""Applications: store one, decide Article 2 eligibility, check issuance data against it."""

from __future__ import annotations

import datetime as dt
import hmac

from sqlalchemy import select
from sqlmodel import Session, col

from card_service.audit import append
from card_service.record.data import TEXT_LIMITS, text_problem
from card_service.record.schedule import local_date

from .eligibility import Reason, check_eligibility
from .errors import ApplicationMismatch, InvalidInput, NotFound
from .models import Applicant, Application, ApplicationStatus
from .store import Store, insert_ignore, live_permit, write
from .types import require_utc
from .views import ApplicantData, ApplicationData, ApplicationDecision

__all__ = ["EVIDENCE_REF_MAX_BYTES", "check_application", "submit_application"]

#: Longest evidence reference (UTF-8 bytes) an application may carry.
EVIDENCE_REF_MAX_BYTES = 100

#: Application fields compared by :func:`check_application`, and the name reported for each.
_COMPARED = (
    ("residence_address", "residence_address"),
    ("residence_began", "residence_began"),
    ("basis", "basis"),
    ("evidence_ref", "evidence_ref"),
    ("portrait_digest", "portrait"),
)


def submit_application(
    store: Store,
    applicant: ApplicantData,
    application: ApplicationData,
    actor: str,
    now: dt.datetime,
) -> ApplicationDecision:
    """Store the application and decide Article 2 eligibility (stored either way).

    Text the signed record could not carry (control, bidi or other format characters, over
    its byte limit) is refused outright with :class:`InvalidInput` naming the fields, before
    anything is stored: the register is the last gate before a permit number is used, and
    callers other than the CLI (the HTTP API) reach it directly.  An empty field is not
    refused here: it is an eligibility reason, decided and stored as before.
    """
    now = require_utc(now)
    _check_texts(applicant, application)
    digest = store.id_number_hmac(applicant.id_number)

    def work(session: Session) -> ApplicationDecision:
        insert_ignore(
            session,
            Applicant,
            id_number_hmac=digest,
            id_number=applicant.id_number.strip().upper(),
            name=applicant.name,
            birth_date=applicant.birth_date,
            created_at=now,
        )
        person = session.execute(
            select(Applicant).where(col(Applicant.id_number_hmac) == digest)
        ).scalar_one()
        assert person.id is not None
        person.name = applicant.name  # names change; the ID number does not
        result = check_eligibility(
            id_number=applicant.id_number,
            name=applicant.name,
            residence_address=application.residence_address,
            residence_began=application.residence_began,
            basis=application.basis,
            evidence_ref=application.evidence_ref,
            today=local_date(now),
        )
        reasons = [r.value for r in result.reasons]
        if live_permit(session, person.id) is not None:
            reasons.append(Reason.ACTIVE_PERMIT_EXISTS.value)
        status = ApplicationStatus.REJECTED if reasons else ApplicationStatus.APPROVED
        row = Application(
            applicant_id=person.id,
            residence_address=application.residence_address,
            residence_began=application.residence_began,
            basis=application.basis,
            evidence_ref=application.evidence_ref,
            portrait_digest=application.portrait_digest,
            status=status.value,
            reasons=",".join(reasons),
            submitted_at=now,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        outcome = "approved" if not reasons else "rejected:" + ",".join(reasons)
        append(session, actor=actor, action="application.decide", result=outcome, now=now)
        return ApplicationDecision(row.id, not reasons, tuple(reasons))

    return write(store, now, work)


def check_application(
    store: Store, application_id: int, applicant: ApplicantData, application: ApplicationData
) -> None:
    """Raise :class:`ApplicationMismatch` unless ``applicant`` and ``application`` are the
    stored application ``application_id`` (the data a card is about to carry must be what
    the register decided on; a replacement carries its original application's data)."""
    # Before the session: person_key() may open its own (on SQLite every transaction
    # takes the write lock, so a nested one would wait for ours).
    presented = store.id_number_hmac(applicant.id_number)
    with Session(store.engine) as session:
        stored = session.get(Application, application_id)
        if stored is None:
            raise NotFound("no such application")
        person = session.get(Applicant, stored.applicant_id)
        assert person is not None
        differs = []
        if not hmac.compare_digest(person.id_number_hmac, presented):
            differs.append("citizen_id")
        if person.name != applicant.name:
            differs.append("full_name")
        if person.birth_date != applicant.birth_date:
            differs.append("birth_date")
        for name, reported in _COMPARED:
            if getattr(stored, name) != getattr(application, name):
                differs.append(reported)
    if differs:
        raise ApplicationMismatch(tuple(differs))


def _check_texts(applicant: ApplicantData, application: ApplicationData) -> None:
    texts = {
        "applicant.name": (applicant.name, TEXT_LIMITS["full_name"]),
        "application.residence_address": (
            application.residence_address,
            TEXT_LIMITS["residence_address"],
        ),
        "application.evidence_ref": (application.evidence_ref, EVIDENCE_REF_MAX_BYTES),
    }
    bad = [
        name
        for name, (value, limit) in texts.items()
        if isinstance(value, str) and value.strip() and text_problem(value, limit) is not None
    ]
    if bad:
        raise InvalidInput("text the record cannot carry in: " + ", ".join(bad))
