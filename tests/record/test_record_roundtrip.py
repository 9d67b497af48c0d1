"""Signing, encoding (ISO/IEC 18013-5 shapes), verification and selective disclosure."""

from __future__ import annotations

import datetime as dt
import hashlib

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from card_service.card.wire import FILE_MAX_SIZE, FileId
from card_service.record import (
    BANK,
    DOC_TYPE,
    MERCHANT,
    NAMESPACE,
    RecordError,
    Verdict,
    present,
)
from card_service.record.sample import synthetic_applicant

from .conftest import NOW, SIGNED, World, card_proof, make_world


def test_full_record_is_valid_with_card_proof(world: World) -> None:
    result = world.verifier().verify(
        world.record, now=NOW, card_proof=card_proof(world.card, b"fresh-challenge!")
    )
    assert result.verdict is Verdict.VALID, result.reasons
    assert result.card_authenticated
    assert result.elements["citizen_id"] == world.data.citizen_id
    assert result.elements["portrait"] == world.data.portrait
    assert result.doc_type == DOC_TYPE
    assert "Document Signer" in (result.signer or "")


def test_encoding_follows_18013_5(world: World) -> None:
    top = cbor2.loads(world.record)
    assert set(top) == {"nameSpaces", "issuerAuth"}
    items = top["nameSpaces"][NAMESPACE]
    protected, unprotected, payload, signature = top["issuerAuth"]
    assert cbor2.loads(protected) == {1: -7}
    assert isinstance(unprotected[33], bytes) and len(signature) == 64
    mso_tag = cbor2.loads(payload)
    assert mso_tag.tag == 24
    mso = cbor2.loads(mso_tag.value)
    assert mso["version"] == "1.0" and mso["digestAlgorithm"] == "SHA-256"
    assert mso["docType"] == DOC_TYPE
    key = mso["deviceKeyInfo"]["deviceKey"]
    assert key[1] == 2 and key[-1] == 1 and len(key[-2]) == 32 and len(key[-3]) == 32
    assert set(mso["validityInfo"]) == {"signed", "validFrom", "validUntil"}
    ids = set()
    for item in items:
        assert item.tag == 24
        decoded = cbor2.loads(item.value)
        assert set(decoded) == {"digestID", "random", "elementIdentifier", "elementValue"}
        assert len(decoded["random"]) >= 16
        digest = hashlib.sha256(cbor2.dumps(item)).digest()
        assert mso["valueDigests"][NAMESPACE][decoded["digestID"]] == digest
        ids.add(decoded["digestID"])
    assert ids == set(range(len(items)))
    # deterministic encoding: re-encoding gives the same bytes
    assert cbor2.dumps(top, canonical=True) == world.record


def test_typical_record_fits_the_card(world: World) -> None:
    assert 9_000 <= len(world.data.portrait) <= 11_000
    assert len(world.record) <= FILE_MAX_SIZE[FileId.RECORD]


def test_salts_and_ids_differ_between_signatures(world: World) -> None:
    again = world.sign(world.data)
    assert again != world.record
    first = {
        cbor2.loads(i.value)["random"] for i in cbor2.loads(world.record)["nameSpaces"][NAMESPACE]
    }
    second = {cbor2.loads(i.value)["random"] for i in cbor2.loads(again)["nameSpaces"][NAMESPACE]}
    assert not first & second


def test_merchant_presentation(world: World) -> None:
    shown = present(world.record, MERCHANT)
    result = world.verifier().verify(shown, now=NOW)
    assert result.verdict is Verdict.VALID, result.reasons
    assert set(result.elements) == {"residence_began", "permit_number", "first_endorsement_due"}
    assert result.years_of_residence is not None and result.years_of_residence >= 1
    for withheld in ("residence_address", "household_address", "full_name", "citizen_id"):
        assert world.data.elements()[withheld].encode() not in shown
    assert world.data.portrait not in shown


def test_bank_presentation(world: World) -> None:
    shown = present(world.record, BANK)
    result = world.verifier().verify(shown, now=NOW)
    assert result.verdict is Verdict.VALID
    assert set(result.elements) == {
        "full_name",
        "citizen_id",
        "expiry_date",
        "permit_number",
        "first_endorsement_due",
    }
    assert world.data.residence_address.encode() not in shown


def test_presentation_of_unknown_element_fails(world: World) -> None:
    with pytest.raises(RecordError):
        present(world.record, ["favourite_colour"])
    with pytest.raises(RecordError):
        present(b"\xa0", MERCHANT)


def test_validity_window(world: World) -> None:
    verifier = world.verifier()
    before = SIGNED - dt.timedelta(days=2)
    assert Verdict.NOT_YET_VALID in {
        r.verdict for r in verifier.verify(world.record, now=before).reasons
    }
    expiry = world.data.expiry_date
    after = dt.datetime(expiry.year, expiry.month, expiry.day, 16, 1, tzinfo=dt.UTC)
    late = world.pki.trust(after)
    from card_service.record import Verifier

    result = Verifier(late).verify(world.record, now=after)
    assert result.verdict is Verdict.EXPIRED, result.reasons


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 2**32), st.sampled_from(["110101", "810000", "820000", "830000"]))
def test_round_trip_any_applicant(world: World, seed: int, code: str) -> None:
    data = synthetic_applicant(SIGNED, seed=seed, address_code=code, portrait_bytes=2000)
    record = world.sign(data)
    result = world.verifier().verify(record, now=NOW)
    assert result.verdict is Verdict.VALID, result.reasons
    assert result.elements == data.elements()
    subset = sorted(data.elements())[: seed % 16]
    shown = world.verifier().verify(present(record, subset), now=NOW)
    assert shown.verdict is Verdict.VALID
    assert set(subset) <= set(shown.elements)


def test_other_world_is_independent() -> None:
    other = make_world(seed=9)
    assert other.verifier().verify(other.record, now=NOW).verdict is Verdict.VALID
