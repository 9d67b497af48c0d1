"""Annual endorsements: signing, binding, schedule, suspension and EF.Endorsements limits."""

from __future__ import annotations

import dataclasses
import datetime as dt

import cbor2
import pytest

from card_service.card.wire import FILE_MAX_SIZE, FileId
from card_service.record import RecordError, Verdict, endorse, present
from card_service.record.ephemeral_pki import EphemeralSigner
from card_service.record.sample import synthetic_applicant
from card_service.record.schedule import CST, EndorsementNotDue, add_years, minus_one_month

from .conftest import SIGNED, World, make_world


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    """``hour`` o'clock China time on ``day``, as UTC."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=CST).astimezone(dt.UTC)


@pytest.fixture(scope="module")
def ew() -> World:
    return make_world(seed=11)


def signer_for(w: World, when: dt.datetime) -> EphemeralSigner:
    return w.pki.new_signer(when - dt.timedelta(days=1))


def do_endorse(w: World, existing: bytes, when: dt.datetime, record: bytes | None = None) -> bytes:
    s = signer_for(w, when)
    return endorse(record or w.record, existing, signer_key=s.key, signer_chain=s.chain, now=when)


def test_suspended_without_endorsement_after_due(ew: World) -> None:
    due = ew.data.first_endorsement_due
    on_due = at(due, 20)
    assert ew.verifier(on_due).verify(ew.record, now=on_due).verdict is Verdict.VALID
    after = at(due + dt.timedelta(days=1))
    result = ew.verifier(after).verify(ew.record, now=after)
    assert result.verdict is Verdict.SUSPENDED
    assert [r.code for r in result.reasons] == ["endorsement_overdue"]


def test_on_time_endorsement_keeps_permit_valid(ew: World) -> None:
    due = ew.data.first_endorsement_due
    item = do_endorse(ew, b"", at(minus_one_month(due)))
    body = cbor2.loads(cbor2.loads(item).value[2])
    assert body["period_start"] == due and body["period_end"] == add_years(due, 1)
    assert body["sequence"] == 1 and body["permit_number"] == ew.data.permit_number
    later = at(due + dt.timedelta(days=200))
    result = ew.verifier(later).verify(ew.record, now=later, endorsements=item)
    assert result.verdict is Verdict.VALID, result.reasons
    assert result.endorsements_verified == 1
    # the next year is due on the period end
    after_year = at(add_years(due, 1) + dt.timedelta(days=1))
    overdue = ew.verifier(after_year).verify(ew.record, now=after_year, endorsements=item)
    assert overdue.verdict is Verdict.SUSPENDED
    # a presentation carries the same endorsements
    shown = present(ew.record, ["residence_began"])
    assert ew.verifier(later).verify(shown, now=later, endorsements=[item]).verdict is Verdict.VALID


def test_too_early_is_refused(ew: World) -> None:
    due = ew.data.first_endorsement_due
    with pytest.raises(EndorsementNotDue):
        do_endorse(ew, b"", at(minus_one_month(due) - dt.timedelta(days=1)))


def test_late_endorsement_resumes_and_restarts_residence_years(ew: World) -> None:
    due = ew.data.first_endorsement_due
    late_day = due + dt.timedelta(days=40)
    item = do_endorse(ew, b"", at(late_day))
    body = cbor2.loads(cbor2.loads(item).value[2])
    assert body["period_start"] == late_day
    check = at(late_day + dt.timedelta(days=10))
    result = ew.verifier(check).verify(ew.record, now=check, endorsements=item)
    assert result.verdict is Verdict.VALID
    assert result.years_of_residence == 0  # counted anew from the late endorsement
    assert result.endorsement is not None and result.endorsement.residence_counted_from == late_day
    # before the late endorsement was made the permit was suspended
    gap = at(due + dt.timedelta(days=5))
    assert ew.verifier(gap).verify(ew.record, now=gap).verdict is Verdict.SUSPENDED
    # an endorsement dated after the verifier's now cannot exist yet: forged
    assert ew.verifier(gap).verify(ew.record, now=gap, endorsements=item).verdict is (
        Verdict.FORGED
    )


def test_chain_of_endorsements_is_appended(ew: World) -> None:
    due = ew.data.first_endorsement_due
    content = do_endorse(ew, b"", at(due - dt.timedelta(days=3)))
    content += do_endorse(ew, content, at(add_years(due, 1) - dt.timedelta(days=3)))
    check = at(add_years(due, 1) + dt.timedelta(days=100))
    result = ew.verifier(check).verify(ew.record, now=check, endorsements=content)
    assert result.verdict is Verdict.VALID and result.endorsements_verified == 2


def test_endorsement_of_another_permit_is_forged(ew: World) -> None:
    other = make_world(seed=12)
    due = other.data.first_endorsement_due
    item = do_endorse(other, b"", at(due - dt.timedelta(days=3)))
    check = at(ew.data.first_endorsement_due - dt.timedelta(days=1))
    result = ew.verifier(check).verify(ew.record, now=check, endorsements=item)
    assert result.verdict is Verdict.FORGED
    assert "endorsement_not_bound" in {r.code for r in result.reasons}


def test_endorsement_bound_to_an_older_record_is_forged(ew: World) -> None:
    reissued = ew.sign(ew.data)  # same permit number, new MSO
    due = ew.data.first_endorsement_due
    item = do_endorse(ew, b"", at(due - dt.timedelta(days=3)), record=reissued)
    check = at(due + dt.timedelta(days=3))
    result = ew.verifier(check).verify(ew.record, now=check, endorsements=item)
    assert result.verdict is Verdict.FORGED


def test_tampered_or_garbage_endorsements(ew: World) -> None:
    due = ew.data.first_endorsement_due
    item = bytearray(do_endorse(ew, b"", at(due - dt.timedelta(days=3))))
    item[-5] ^= 0x40  # inside the signature
    check = at(due + dt.timedelta(days=3))
    verifier = ew.verifier(check)
    result = verifier.verify(ew.record, now=check, endorsements=bytes(item))
    assert result.verdict is Verdict.FORGED
    garbage = verifier.verify(ew.record, now=check, endorsements=b"\xff\x00garbage")
    assert garbage.verdict is Verdict.MALFORMED
    too_big = verifier.verify(ew.record, now=check, endorsements=b"\x00" * 9000)
    assert too_big.verdict is Verdict.MALFORMED


def test_leap_day_residence(ew: World) -> None:
    signed = dt.datetime(2028, 10, 1, 3, tzinfo=dt.UTC)
    w = make_world(seed=13)
    signer = w.pki.new_signer(signed - dt.timedelta(days=1))
    base = synthetic_applicant(signed, seed=13)
    data = dataclasses.replace(base, residence_began=dt.date(2024, 2, 29))
    assert data.first_endorsement_due == dt.date(2029, 2, 28)
    from card_service.record import sign_record

    record = sign_record(
        data, card_key=w.card.public_key(), signer_key=signer.key, signer_chain=signer.chain,
        now=signed,
    )  # fmt: skip
    s = w.pki.new_signer(at(dt.date(2029, 1, 20)))
    item = endorse(record, b"", signer_key=s.key, signer_chain=s.chain,
                   now=at(dt.date(2029, 1, 28)))  # fmt: skip
    body = cbor2.loads(cbor2.loads(item).value[2])
    assert (body["period_start"], body["period_end"]) == (
        dt.date(2029, 2, 28),
        dt.date(2030, 2, 28),
    )
    check = at(dt.date(2029, 3, 1))
    from card_service.record import Verifier

    result = Verifier(w.pki.trust(check)).verify(record, now=check, endorsements=item)
    assert result.verdict is Verdict.VALID, result.reasons
    assert result.years_of_residence == 5


def test_endorsements_fit_the_card(ew: World) -> None:
    due = ew.data.first_endorsement_due
    content = b""
    for year in range(5):
        content += do_endorse(ew, content, at(add_years(due, year) - dt.timedelta(days=2)))
    assert len(content) <= FILE_MAX_SIZE[FileId.ENDORSEMENTS]
    assert len(content) / 5 < 1000


def test_endorse_rejects_malformed_inputs(ew: World) -> None:
    when = at(ew.data.first_endorsement_due)
    with pytest.raises(RecordError):
        do_endorse(ew, b"", when, record=b"\x00")
    with pytest.raises(RecordError):
        do_endorse(ew, b"\xff", when)
    partial = present(ew.record, [])
    with pytest.raises(RecordError):
        do_endorse(ew, b"", when, record=partial)


def test_signed_time_used_for_the_endorsement_signer(ew: World) -> None:
    # endorsed_at outside the endorsement signer's window -> forged
    due = ew.data.first_endorsement_due
    old = ew.pki.new_signer(at(due) - dt.timedelta(days=400))
    item = endorse(ew.record, b"", signer_key=old.key, signer_chain=old.chain, now=at(due))
    check = at(due + dt.timedelta(days=1))
    result = ew.verifier(check).verify(ew.record, now=check, endorsements=item)
    assert result.verdict is Verdict.FORGED
    assert SIGNED < check
