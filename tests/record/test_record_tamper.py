"""Every tampering gives the right verdict, with its reason, and never an exception."""

from __future__ import annotations

import datetime as dt
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from card_service.record import (
    NAMESPACE,
    RevocationEntry,
    Verdict,
    Verifier,
    sign_record,
)
from card_service.record.ephemeral_pki import EphemeralPki
from card_service.record.verdict import PRECEDENCE, Reason, decide

from .conftest import NOW, SIGNED, World, card_proof, make_world


def codes(result: Any) -> set[str]:
    return {r.code for r in result.reasons}


def rebuild(record: bytes, edit: Any) -> bytes:
    top = cbor2.loads(record)
    top = {"nameSpaces": dict(top["nameSpaces"]), "issuerAuth": list(top["issuerAuth"])}
    top["nameSpaces"][NAMESPACE] = list(top["nameSpaces"][NAMESPACE])
    edit(top)
    return cbor2.dumps(top, canonical=True)


def item_index(record: bytes, identifier: str) -> int:
    items = cbor2.loads(record)["nameSpaces"][NAMESPACE]
    for i, item in enumerate(items):
        if cbor2.loads(item.value)["elementIdentifier"] == identifier:
            return i
    raise KeyError(identifier)


@pytest.fixture(scope="module")
def other() -> World:
    return make_world(seed=2)


def test_changed_value_of_every_element_is_forged(world: World) -> None:
    verifier = world.verifier()
    for identifier, value in world.data.elements().items():
        index = item_index(world.record, identifier)

        def edit(top: dict[str, Any], index: int = index, value: Any = value) -> None:
            item = dict(cbor2.loads(top["nameSpaces"][NAMESPACE][index].value))
            if isinstance(value, bytes):
                item["elementValue"] = value[:-1] + bytes([value[-1] ^ 1])
            elif isinstance(value, str):
                item["elementValue"] = value + "1"
            elif isinstance(value, int):
                item["elementValue"] = value + 1
            else:
                item["elementValue"] = value + dt.timedelta(days=1)
            top["nameSpaces"][NAMESPACE][index] = cbor2.CBORTag(24, cbor2.dumps(item))

        result = verifier.verify(rebuild(world.record, edit), now=NOW)
        assert result.verdict is Verdict.FORGED, (identifier, result.reasons)
        mismatch = [r for r in result.reasons if r.code == "digest_mismatch"]
        assert mismatch and mismatch[0].element == identifier
        assert identifier not in result.elements


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_any_flipped_byte_is_never_valid(world: World, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(world.record) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = bytearray(world.record)
    tampered[position] ^= 1 << bit
    result = world.verifier().verify(bytes(tampered), now=NOW)
    assert result.verdict in (Verdict.FORGED, Verdict.MALFORMED), (position, result.reasons)
    assert result.reasons


def test_element_swapped_from_another_permit(world: World, other: World) -> None:
    theirs = cbor2.loads(other.record)["nameSpaces"][NAMESPACE][
        item_index(other.record, "full_name")
    ]

    def edit(top: dict[str, Any]) -> None:
        top["nameSpaces"][NAMESPACE][item_index(world.record, "full_name")] = theirs

    result = world.verifier().verify(rebuild(world.record, edit), now=NOW)
    assert result.verdict is Verdict.FORGED
    assert codes(result) & {"digest_mismatch", "element_duplicate", "digest_id_duplicate"}


def test_whole_issuer_auth_from_another_permit(world: World, other: World) -> None:
    def edit(top: dict[str, Any]) -> None:
        top["issuerAuth"] = cbor2.loads(other.record)["issuerAuth"]

    result = world.verifier().verify(rebuild(world.record, edit), now=NOW)
    assert result.verdict is Verdict.FORGED and "digest_mismatch" in codes(result)


def test_signer_from_another_issuer(world: World) -> None:
    rogue = EphemeralPki.create(SIGNED - dt.timedelta(days=30))
    rogue_signer = rogue.new_signer(SIGNED - dt.timedelta(days=1))
    record = world.sign(world.data, rogue_signer)
    result = world.verifier().verify(record, now=NOW)
    assert result.verdict is Verdict.FORGED and "signer_untrusted" in codes(result)
    # the rogue issuer's root carried in the record is not trusted either
    record = sign_record(
        world.data,
        card_key=world.card.public_key(),
        signer_key=rogue_signer.key,
        signer_chain=[*rogue_signer.chain, rogue.root_certificate],
        now=SIGNED,
    )
    assert world.verifier().verify(record, now=NOW).verdict is Verdict.FORGED


def test_certificate_swapped_into_x5chain(world: World, other: World) -> None:
    def edit(top: dict[str, Any]) -> None:
        top["issuerAuth"][1] = cbor2.loads(other.record)["issuerAuth"][1]

    result = world.verifier().verify(rebuild(world.record, edit), now=NOW)
    assert result.verdict is Verdict.FORGED


def test_signed_outside_signing_window(world: World) -> None:
    old = world.pki.new_signer(SIGNED - dt.timedelta(days=200))  # window closed after 90 days
    record = world.sign(world.data, old)
    result = world.verifier().verify(record, now=NOW)
    assert result.verdict is Verdict.FORGED and "signer_not_valid_at_signing" in codes(result)


def test_expired_signer(world: World) -> None:
    short = world.pki.new_signer(SIGNED - dt.timedelta(days=1), signing_days=5, validity_days=10)
    record = world.sign(world.data, short)
    assert world.verifier().verify(record, now=NOW).verdict is Verdict.VALID
    later = SIGNED + dt.timedelta(days=20)
    result = world.verifier(later).verify(record, now=later)
    assert result.verdict is Verdict.EXPIRED and "signer_expired" in codes(result)


def test_revoked_signer() -> None:
    w = make_world(seed=3)
    assert w.verifier().verify(w.record, now=NOW).verdict is Verdict.VALID
    w.pki.revoke(w.signer, SIGNED + dt.timedelta(hours=1))
    result = w.verifier().verify(w.record, now=NOW)
    assert result.verdict is Verdict.SIGNER_REVOKED and "signer_revoked" in codes(result)


def test_stale_crl_means_revocation_unknown(world: World) -> None:
    verifier = world.verifier(NOW)
    later = NOW + dt.timedelta(days=45)  # CRLs last 30 days
    result = verifier.verify(world.record, now=later)
    assert result.verdict is Verdict.SIGNER_REVOKED
    assert "signer_revocation_unknown" in codes(result)


def test_cache_does_not_hide_revocation() -> None:
    w = make_world(seed=4)
    verifier = w.verifier()
    assert verifier.verify(w.record, now=NOW).verdict is Verdict.VALID
    w.pki.revoke(w.signer, NOW)
    fresh = Verifier(w.pki.trust(NOW))  # a new trust list means a new verifier
    assert fresh.verify(w.record, now=NOW).verdict is Verdict.SIGNER_REVOKED


def test_wrong_doc_type(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import card_service.record.mso as mso

    monkeypatch.setattr(mso, "DOC_TYPE", "org.iso.18013.5.1.mDL")
    record = world.sign(world.data)
    monkeypatch.undo()
    result = world.verifier().verify(record, now=NOW)
    assert result.verdict is Verdict.FORGED and "doctype_mismatch" in codes(result)


@pytest.mark.parametrize("cut", [1, 2, 100, 5000, -1])
def test_truncated_cbor(world: World, cut: int) -> None:
    result = world.verifier().verify(world.record[:cut], now=NOW)
    assert result.verdict is Verdict.MALFORMED


def test_oversized_and_trailing_cbor(world: World) -> None:
    big = world.verifier().verify(world.record + b"\x00" * 32768, now=NOW)
    assert big.verdict is Verdict.MALFORMED and "record_oversized" in codes(big)
    trailing = world.verifier().verify(world.record + b"\x00", now=NOW)
    assert trailing.verdict is Verdict.MALFORMED


def test_extra_digest_id(world: World) -> None:
    def edit(top: dict[str, Any]) -> None:
        item = {"digestID": 999, "random": b"\x00" * 32, "elementIdentifier": "full_name",
                "elementValue": "冒名"}  # fmt: skip
        item_bytes = cbor2.dumps(item, canonical=True)
        top["nameSpaces"][NAMESPACE].append(cbor2.CBORTag(24, item_bytes))

    result = world.verifier().verify(rebuild(world.record, edit), now=NOW)
    assert result.verdict is Verdict.FORGED and "digest_id_unknown" in codes(result)


def test_duplicate_digest_id(world: World) -> None:
    def edit(top: dict[str, Any]) -> None:
        top["nameSpaces"][NAMESPACE].append(top["nameSpaces"][NAMESPACE][0])

    result = world.verifier().verify(rebuild(world.record, edit), now=NOW)
    assert result.verdict is Verdict.MALFORMED and "digest_id_duplicate" in codes(result)


def test_duplicate_map_keys_are_malformed(world: World) -> None:
    # {"nameSpaces": {}, "nameSpaces": {}} written by hand
    raw = b"\xa2" + cbor2.dumps("nameSpaces") + b"\xa0" + cbor2.dumps("nameSpaces") + b"\xa0"
    assert world.verifier().verify(raw, now=NOW).verdict is Verdict.MALFORMED


def test_missing_mandatory_element(world: World) -> None:
    def edit(top: dict[str, Any]) -> None:
        del top["nameSpaces"][NAMESPACE][item_index(world.record, "permit_number")]

    result = world.verifier().verify(rebuild(world.record, edit), now=NOW)
    assert result.verdict is Verdict.MALFORMED and "mandatory_element_missing" in codes(result)


def test_replayed_card_challenge(world: World) -> None:
    old = card_proof(world.card, b"challenge-of-yesterday")
    replay = type(old)(b"challenge-of-today!!", old.signature)
    result = world.verifier().verify(world.record, now=NOW, card_proof=replay)
    assert result.verdict is Verdict.CLONED and "card_signature_invalid" in codes(result)
    assert not result.card_authenticated


def test_proof_from_another_card(world: World, other: World) -> None:
    proof = card_proof(other.card, b"0123456789abcdef")
    result = world.verifier().verify(world.record, now=NOW, card_proof=proof)
    assert result.verdict is Verdict.CLONED


def test_missing_or_malformed_card_proof(world: World) -> None:
    verifier = world.verifier()
    assert verifier.verify(world.record, now=NOW).verdict is Verdict.VALID
    missing = verifier.verify(world.record, now=NOW, require_card_proof=True)
    assert missing.verdict is Verdict.CLONED and "card_proof_missing" in codes(missing)
    short = card_proof(world.card, b"1234567")
    assert verifier.verify(world.record, now=NOW, card_proof=short).verdict is Verdict.CLONED
    bad = type(short)(b"12345678", b"\x00" * 63)
    assert verifier.verify(world.record, now=NOW, card_proof=bad).verdict is Verdict.CLONED


def test_revoked_permit(world: World) -> None:
    def status(number: str, now: dt.datetime) -> RevocationEntry | None:
        if number == world.data.permit_number:
            return RevocationEntry(SIGNED + dt.timedelta(hours=2), "cancelled")
        return None

    verifier = Verifier(world.pki.trust(NOW), revocation=status)
    result = verifier.verify(world.record, now=NOW)
    assert result.verdict is Verdict.REVOKED and "permit_revoked" in codes(result)
    before = SIGNED + dt.timedelta(hours=1)
    assert (
        Verifier(world.pki.trust(before), revocation=status)
        .verify(world.record, now=before)
        .verdict
        is Verdict.VALID
    )

    def broken(number: str, now: dt.datetime) -> RevocationEntry | None:
        raise OSError("register unreachable")

    failing = Verifier(world.pki.trust(NOW), revocation=broken).verify(world.record, now=NOW)
    assert failing.verdict is Verdict.REVOKED  # fail closed


def test_all_reasons_are_reported_with_precedence(world: World) -> None:
    old = card_proof(world.card, b"challenge-of-yesterday")
    replay = type(old)(b"challenge-of-today!!", old.signature)
    later = NOW + dt.timedelta(days=365 * 6)

    def edit(top: dict[str, Any]) -> None:
        item = dict(cbor2.loads(top["nameSpaces"][NAMESPACE][0].value))
        item["random"] = b"\x01" * 32
        top["nameSpaces"][NAMESPACE][0] = cbor2.CBORTag(24, cbor2.dumps(item))

    result = world.verifier(later).verify(rebuild(world.record, edit), now=later, card_proof=replay)
    found = {r.verdict for r in result.reasons}
    assert {Verdict.FORGED, Verdict.CLONED, Verdict.EXPIRED} <= found
    assert result.verdict is Verdict.FORGED


def test_decide_follows_precedence() -> None:
    for i, verdict in enumerate(PRECEDENCE):
        reasons = [Reason("x", v, "m") for v in PRECEDENCE[i:]]
        assert decide(reasons) is verdict
    assert decide([]) is Verdict.VALID


def test_messages_carry_no_personal_data(world: World, other: World) -> None:
    theirs = cbor2.loads(other.record)["nameSpaces"][NAMESPACE]

    def edit(top: dict[str, Any]) -> None:
        top["nameSpaces"][NAMESPACE] = theirs

    result = world.verifier().verify(rebuild(world.record, edit), now=NOW)
    text = repr(result) + str(result.to_json())
    for value in (*world.data.elements().values(), *other.data.elements().values()):
        if isinstance(value, str) and len(value) > 4:
            assert value not in text
