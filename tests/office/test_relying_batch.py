"""Relying-party verifications in a batch (card_service/office/relying_batch.py): each
presentation gets its own outcome, in order, and its own ``permit.verify`` audit entry; a
failing shared step fails exactly the presentations that needed it, and no answer is given
without its audit entry."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence

import cbor2
import pytest
from sqlalchemy.exc import OperationalError

from card_service.office import (
    ChallengeOutcome,
    EphemeralOffice,
    OutOfScope,
    Presentation,
    SharedState,
    SharedStateUnavailable,
    ephemeral_office,
)
from card_service.office.errors import RegisterUnavailable
from card_service.office.relying import RelyingVerification
from card_service.office.relying_batch import Outcome, PresentationRequest
from card_service.record.mso import NAMESPACE
from card_service.register.views import PermitFacts
from card_service.shared_state import MemoryChallengeStore, MemoryRateLimiter
from card_service.shared_state.model import Claim
from tests.dbfixtures import NOW
from tests.office.test_relying import _PKI, BANK, SHOP, _audit, _issued


@pytest.fixture
def office() -> Iterator[EphemeralOffice]:
    made = ephemeral_office(NOW, pki=_PKI)  # (Office.__enter__ is typed as an Office)
    with made:
        yield made


def _forged(presentation: Presentation) -> Presentation:
    """The presentation with its ``full_name`` changed (the issuer's digest no longer
    matches: a forgery, within the scope)."""
    top = cbor2.loads(presentation.record)
    items = list(top["nameSpaces"][NAMESPACE])
    for index, tagged in enumerate(items):
        item = dict(cbor2.loads(tagged.value))
        if item["elementIdentifier"] == "full_name":
            item["elementValue"] = item["elementValue"] + "1"
            items[index] = cbor2.CBORTag(24, cbor2.dumps(item))
    top = {"nameSpaces": {**top["nameSpaces"], NAMESPACE: items}, "issuerAuth": top["issuerAuth"]}
    return dataclasses.replace(presentation, record=cbor2.dumps(top, canonical=True))


@dataclasses.dataclass
class Mixed:
    requests: list[PresentationRequest]
    number: str


def _mixed(office: EphemeralOffice) -> Mixed:
    """valid, replayed, out of scope, forged, another client's nonce (in this order)."""
    reader, number = _issued(office)

    def present(elements: Sequence[str], owner: str = "bank") -> Presentation:
        client = BANK if owner == "bank" else SHOP
        return office.present_card(reader, office.issue_challenge(client, NOW).nonce, elements)

    replayed = present(["full_name"])
    assert office.verify_presentation(BANK, replayed, NOW, audit_actor="earlier").valid
    presentations = [
        (BANK, present(["full_name", "expiry_date"]), "bank"),
        (BANK, replayed, "bank"),
        (SHOP, present(["residence_began", "full_name"], "shop"), "shop"),
        (BANK, _forged(present(["full_name"])), "bank"),
        (BANK, present(["full_name"], "shop"), "bank"),  # the shop's nonce
    ]
    requests = [PresentationRequest(c, p, NOW, actor) for c, p, actor in presentations]
    return Mixed(requests, number)


def _verdicts(outcomes: Sequence[Outcome]) -> list[RelyingVerification]:
    assert all(isinstance(o, RelyingVerification) for o in outcomes[:2]), outcomes
    return [o for o in outcomes if isinstance(o, RelyingVerification)]


def test_a_mixed_batch_gives_each_its_own_outcome_and_audit_entry(
    office: EphemeralOffice,
) -> None:
    mixed = _mixed(office)
    before = len(_audit(office))
    outcomes = office.verify_presentations(mixed.requests)
    assert len(outcomes) == 5
    valid, replayed, out_of_scope, forged, stolen = outcomes

    assert isinstance(valid, RelyingVerification) and valid.valid, valid
    assert valid.elements["permit_number"] == mixed.number
    assert "full_name" in valid.elements and "residence_began" not in valid.elements

    assert isinstance(replayed, RelyingVerification) and not replayed.valid
    assert replayed.challenge is ChallengeOutcome.REPLAYED and not replayed.elements

    assert isinstance(out_of_scope, OutOfScope)

    assert isinstance(forged, RelyingVerification) and not forged.valid
    assert forged.verdict == "FORGED" and not forged.elements
    assert forged.challenge is ChallengeOutcome.CONSUMED

    assert isinstance(stolen, RelyingVerification) and not stolen.valid
    assert stolen.challenge is ChallengeOutcome.OTHER_CLIENT and not stolen.elements

    entries = _audit(office)[before:]
    assert [(actor, number) for actor, number, _ in entries] == [
        ("bank", mixed.number),
        ("bank", None),
        ("shop", None),
        ("bank", None),
        ("bank", None),
    ]
    results = [result for _, _, result in entries]
    assert results[0] == "passed"
    assert results[1] == "failed:challenge_replayed"
    assert results[2] == "refused:out_of_scope"
    assert results[3].startswith("failed:forged:")
    assert results[4] == "failed:challenge_other_client"


def test_a_batch_equals_the_same_verifications_one_by_one(office: EphemeralOffice) -> None:
    batched = office.verify_presentations(_mixed(office).requests)
    batch_audit = [result for _, _, result in _audit(office)]
    other = ephemeral_office(NOW, pki=_PKI)
    with other:
        single: list[Outcome] = []
        for request in _mixed(other).requests:
            try:
                single.append(
                    other.verify_presentation(
                        request.client,
                        request.presentation,
                        request.now,
                        audit_actor=request.audit_actor,
                    )
                )
            except OutOfScope as exc:
                single.append(exc)
        single_audit = [result for _, _, result in _audit(other)]
    assert [type(o) for o in batched] == [type(o) for o in single]
    assert [(o.verdict, o.challenge) for o in _verdicts(batched)] == [
        (o.verdict, o.challenge) for o in _verdicts(single)
    ]
    assert batch_audit == single_audit


def test_the_same_nonce_twice_in_one_batch(office: EphemeralOffice) -> None:
    reader, _ = _issued(office)
    presentation = office.present_card(
        reader, office.issue_challenge(BANK, NOW).nonce, ["full_name"]
    )
    request = PresentationRequest(BANK, presentation, NOW, "bank")
    first, second = office.verify_presentations([request, request])
    assert isinstance(first, RelyingVerification) and first.valid
    assert isinstance(second, RelyingVerification) and not second.valid
    assert second.challenge is ChallengeOutcome.REPLAYED
    assert [result for _, _, result in _audit(office)][-2:] == [
        "passed",
        "failed:challenge_replayed",
    ]


def test_an_empty_batch(office: EphemeralOffice) -> None:
    assert office.verify_presentations([]) == []


class _DownStore(MemoryChallengeStore):
    def consume_many(self, claims: Sequence[Claim]) -> list[ChallengeOutcome]:
        raise SharedStateUnavailable("the shared store did not answer")


def test_shared_store_down_fails_every_item_closed_and_audited(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = _mixed(office)
    before = len(_audit(office))
    monkeypatch.setattr(
        office, "_shared_state", SharedState("memory", _DownStore(), MemoryRateLimiter())
    )
    outcomes = office.verify_presentations(mixed.requests)
    assert len(outcomes) == 5 and all(isinstance(o, SharedStateUnavailable) for o in outcomes)
    assert _audit(office)[before:] == [
        (r.audit_actor, None, "failed:shared_state_unavailable") for r in mixed.requests
    ]


def _db_down(*_: object, **__: object) -> list[PermitFacts | None]:
    raise OperationalError("SELECT", None, Exception("database is locked"))


def test_register_down_fails_only_the_items_that_needed_it(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = _mixed(office)
    before = len(_audit(office))
    monkeypatch.setattr(office.reader_register(), "permit_facts_each", _db_down)
    valid, replayed, out_of_scope, forged, stolen = office.verify_presentations(mixed.requests)
    assert isinstance(valid, RegisterUnavailable)  # the only one the register was asked about
    assert "OperationalError" in str(valid) and "locked" not in str(valid)
    assert isinstance(replayed, RelyingVerification)
    assert replayed.challenge is ChallengeOutcome.REPLAYED
    assert isinstance(out_of_scope, OutOfScope)
    assert isinstance(forged, RelyingVerification) and forged.verdict == "FORGED"
    assert isinstance(stolen, RelyingVerification)
    assert stolen.challenge is ChallengeOutcome.OTHER_CLIENT
    results = [result for _, _, result in _audit(office)[before:]]
    assert results[0] == "failed:register_unavailable"
    assert results[1:3] == ["failed:challenge_replayed", "refused:out_of_scope"]
    assert results[3].startswith("failed:forged:")
    assert results[4] == "failed:challenge_other_client"


def test_audit_commit_failing_fails_every_item(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = _mixed(office)
    before = len(_audit(office))

    def not_written(*_: object, **__: object) -> list[str | None]:
        raise OperationalError("INSERT", None, Exception("disk I/O error"))

    monkeypatch.setattr(office.register(sealing=False), "record_verifications", not_written)
    outcomes = office.verify_presentations(mixed.requests)
    assert len(outcomes) == 5 and all(isinstance(o, RegisterUnavailable) for o in outcomes)
    assert all("disk" not in str(o) for o in outcomes)
    monkeypatch.undo()
    assert len(_audit(office)) == before


def test_an_entry_that_did_not_commit_fails_its_own_item(
    office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = _mixed(office)
    register = office.register(sealing=False)
    real = register.record_verifications

    def second_lost(
        entries: Sequence[tuple[str | None, str, str, dt.datetime]],
    ) -> list[str | None]:
        answers = real(entries)
        return [answers[0], "OperationalError", *answers[2:]]

    monkeypatch.setattr(register, "record_verifications", second_lost)
    outcomes = office.verify_presentations(mixed.requests)
    assert isinstance(outcomes[0], RelyingVerification) and outcomes[0].valid
    assert isinstance(outcomes[1], RegisterUnavailable)
    assert "OperationalError" in str(outcomes[1])
    assert isinstance(outcomes[2], OutOfScope)
    assert isinstance(outcomes[3], RelyingVerification)
    assert isinstance(outcomes[4], RelyingVerification)
