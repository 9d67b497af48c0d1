"""Real permit records across a root rollover, over simulated time (never sleeping).

One key directory lives ten years: cards are issued under the old root, the root is rolled
over after four years, cards are issued and endorsed under the new root (old cards too: their
annual endorsements after the rollover are signed by a new-root document signer), up to the
last valid card under the old root and past the old root's expiry.  At each instant the
verifier's verdict and reasons are asserted for every trust list a verifier may hold: (old),
(new), (old + new) and (old + link certificate).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.record import Verdict, Verifier, endorse, sign_record
from card_service.record.data import PermitData
from card_service.record.errors import RecordError
from card_service.record.sample import synthetic_applicant
from card_service.record.schedule import EndorsementNotDue
from keys.config import KeySettings
from keys.pki import KeyManager
from keys.profiles import PkiPolicy
from keys.signer import StoreEcPrivateKey
from keys.store import KeyHandle
from keys.trust import TrustList, load_trust_dir

from .conftest import PASSPHRASE
from .test_keys_rollover import FORGERIES

DAY = dt.timedelta(days=1)
YEAR = 365 * DAY
T0 = dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.UTC)  # noon in the city (UTC+8)
ROLL = T0 + 4 * YEAR
ROOT_DAYS = 10 * 365
POLICY = PkiPolicy(root_validity_days=ROOT_DAYS)


@dataclass
class Card:
    data: PermitData
    record: bytes
    signer_id: str
    endorsements: list[bytes] = field(default_factory=list)


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[KeyManager]:
    settings = KeySettings(
        directory=tmp_path / "keys",
        env={"PERMIT_HOME": str(tmp_path), "PERMIT_KEY_PASSPHRASE": PASSPHRASE},
    )
    with KeyManager(settings) as manager:
        manager.init(T0, POLICY)
        yield manager


def _key(m: KeyManager, now: dt.datetime) -> tuple[StoreEcPrivateKey, list[object], str]:
    record = m.current_signer(now)
    handle = KeyHandle(m.store.kind, record.id, record.algorithm)
    return StoreEcPrivateKey(m.store, handle), [m.certificate(record.cert_file)], record.id


def issue(m: KeyManager, now: dt.datetime, seed: int) -> Card:
    key, chain, signer_id = _key(m, now)
    data = synthetic_applicant(now, seed=seed)
    card = ec.generate_private_key(ec.SECP256R1())
    record = sign_record(
        data,
        card_key=card.public_key(),
        signer_key=key,
        signer_chain=chain,  # type: ignore[arg-type]
        now=now,
    )
    return Card(data, record, signer_id)


def keep_endorsed(m: KeyManager, cards: list[Card], now: dt.datetime) -> None:
    """The endorsement desk: endorse every card whose window is open (signer current at
    ``now``, so after the rollover a new-root document signer endorses old cards)."""
    for card in cards:
        if now.date() >= card.data.expiry_date:
            continue
        key, chain, _ = _key(m, now)
        try:
            item = endorse(
                card.record,
                b"".join(card.endorsements),
                signer_key=key,
                signer_chain=chain,  # type: ignore[arg-type]
                now=now,
            )
        except (EndorsementNotDue, RecordError):
            continue
        card.endorsements.append(item)


def trust_lists(m: KeyManager, tmp_path: Path, now: dt.datetime) -> dict[str, TrustList]:
    """What verifiers hold at ``now``: ``permit keys export-trust`` read back, cut four ways."""
    target = tmp_path / f"trust-{now:%Y%m%d}"
    m.export_trust(target, now)
    full = load_trust_dir(target)
    if len(full.roots) == 1:
        return {"old": full}
    old, new = full.roots
    return {
        "old": TrustList((old,), full.crls),
        "new": TrustList((new,), full.crls),
        "old+new": TrustList((old, new), full.crls),
        "old+link": TrustList((old,), full.crls, links=full.links),
    }


def judge(trust: TrustList, card: Card, now: dt.datetime) -> tuple[Verdict, set[str]]:
    result = Verifier(trust).verify(card.record, now=now, endorsements=card.endorsements)
    return result.verdict, {r.code for r in result.reasons}


VALID = (Verdict.VALID, set[str]())
UNTRUSTED = (Verdict.FORGED, {"signer_untrusted"})


def assert_verdicts(
    lists: dict[str, TrustList],
    card: Card,
    now: dt.datetime,
    expected: dict[str, tuple[Verdict, set[str]]],
) -> None:
    got = {name: judge(lists[name], card, now) for name in expected}
    for name, (verdict, codes) in expected.items():
        assert got[name][0] is verdict, (name, now, got[name])
        assert codes <= got[name][1], (name, now, got[name])
        if verdict is Verdict.VALID:
            assert got[name][1] == set(), (name, now, got[name])


def test_records_over_a_root_rollover(keys: KeyManager, tmp_path: Path) -> None:
    m = keys
    cards: dict[str, Card] = {}
    checked: list[str] = []
    old_root_end = T0 + ROOT_DAYS * DAY

    def walk(until: dt.datetime, start: dt.datetime) -> dt.datetime:
        """Time passes in weekly steps: the desk endorses, the CRLs are refreshed."""
        t = start
        while t < until:
            t = min(t + 7 * DAY, until)
            keep_endorsed(m, list(cards.values()), t)
            m.refresh_crl(t)
        return t

    # -- under the old root only -----------------------------------------------------------
    cards["A"] = issue(m, T0 + DAY, seed=1)
    assert cards["A"].signer_id == "ds-0001"
    t = T0 + 2 * DAY
    lists = trust_lists(m, tmp_path, t)
    assert_verdicts(lists, cards["A"], t, {"old": VALID})
    checked.append("issued under the old root")

    t = walk(ROLL - DAY, t)
    cards["B"] = issue(m, ROLL - DAY, seed=2)  # the last card under the old root
    assert m.signer(cards["B"].signer_id).root_id == "root-01"

    # -- the rollover ----------------------------------------------------------------------
    m.rollover_root(ROLL)
    cards["C"] = issue(m, ROLL + DAY, seed=3)
    assert m.signer(cards["C"].signer_id).root_id == "root-02"
    t = ROLL + 2 * DAY
    lists = trust_lists(m, tmp_path, t)
    for name in ("A", "B"):
        assert_verdicts(
            lists,
            cards[name],
            t,
            {"old": VALID, "old+new": VALID, "old+link": VALID, "new": UNTRUSTED},
        )
    assert_verdicts(
        lists,
        cards["C"],
        t,
        {"new": VALID, "old+new": VALID, "old+link": VALID, "old": UNTRUSTED},
    )
    checked.append("just after the rollover")

    # -- the overlap: the old card B endorsed by a new-root signer -------------------------
    assert cards["B"].endorsements == []
    while not cards["B"].endorsements:
        assert t < ROLL + YEAR + 31 * DAY, "B was never endorsed"
        t = walk(t + 7 * DAY, t)
    t += DAY
    lists = trust_lists(m, tmp_path, t)
    assert_verdicts(
        lists,
        cards["B"],
        t,
        {
            "old+new": VALID,
            "old+link": VALID,
            # the card's own signer is fine, but its endorsement's is not trusted
            "old": (Verdict.FORGED, {"endorsement_signer_untrusted"}),
            "new": UNTRUSTED,
        },
    )
    assert "signer_untrusted" not in judge(lists["old"], cards["B"], t)[1]
    assert_verdicts(lists, cards["C"], t, {"new": VALID, "old+link": VALID, "old": UNTRUSTED})
    checked.append("overlap: an old card endorsed under the new root")

    # -- A reaches its end; B, the last card under the old root, lives on ------------------
    a_end = dt.datetime.combine(cards["A"].data.expiry_date, dt.time(4), dt.UTC)
    t = walk(a_end + DAY, t)
    lists = trust_lists(m, tmp_path, t)
    assert_verdicts(lists, cards["A"], t, {"old+new": (Verdict.EXPIRED, set())})
    assert_verdicts(lists, cards["B"], t, {"old+new": VALID, "old+link": VALID})

    b_end = dt.datetime.combine(cards["B"].data.expiry_date, dt.time(4), dt.UTC)
    t = walk(b_end, t)  # B's last valid day
    lists = trust_lists(m, tmp_path, t)
    assert_verdicts(lists, cards["B"], t, {"old+new": VALID, "old+link": VALID})
    t = walk(b_end + DAY, t)
    lists = trust_lists(m, tmp_path, t)
    assert_verdicts(
        lists,
        cards["B"],
        t,
        {"old+new": (Verdict.EXPIRED, set()), "old+link": (Verdict.EXPIRED, set())},
    )
    checked.append("the last valid card under the old root")

    # ... and its signer certificate ends a little later: still EXPIRED, never FORGED
    b_signer = m.signer(cards["B"].signer_id)
    t = walk(b_signer.not_after + DAY, t)
    lists = trust_lists(m, tmp_path, t)
    assert_verdicts(lists, cards["B"], t, {"old+new": (Verdict.EXPIRED, {"signer_expired"})})

    # -- a card issued late under the new root; then the old root expires ------------------
    t = walk(T0 + 8 * YEAR, t)
    cards["D"] = issue(m, t, seed=4)
    assert m.signer(cards["D"].signer_id).root_id == "root-02"
    t = walk(T0 + 9 * YEAR, t)
    lists = trust_lists(m, tmp_path, t)
    assert_verdicts(
        lists, cards["D"], t, {"new": VALID, "old+new": VALID, "old+link": VALID, "old": UNTRUSTED}
    )
    old_crl = m.registry.roots[0].crl
    assert old_crl is not None and old_crl.next_update > t  # the old root still signs its CRL
    t = walk(old_root_end + 2 * DAY, t)
    lists = trust_lists(m, tmp_path, t)
    # verifiers that never installed the new root lose new cards with the link's end
    assert_verdicts(lists, cards["D"], t, {"new": VALID, "old+new": VALID, "old+link": UNTRUSTED})
    result = Verifier(lists["old+link"]).verify(
        cards["D"].record, now=t, endorsements=cards["D"].endorsements
    )
    [reason] = [r for r in result.reasons if r.code == "signer_untrusted"]
    assert "link certificate is not valid" in reason.message
    # past its duty the old root's CRL is no longer reissued
    assert m.registry.roots[0].crl is not None
    assert m.registry.roots[0].crl.this_update < old_root_end
    checked.append("beyond the old root")
    assert len(checked) == 5


@pytest.fixture
def rolled(keys: KeyManager) -> tuple[KeyManager, Card, Card]:
    old_card = issue(keys, ROLL - DAY, seed=5)
    keys.rollover_root(ROLL)
    new_card = issue(keys, ROLL + DAY, seed=6)
    return keys, old_card, new_card


def test_revoked_signer_under_either_root(
    rolled: tuple[KeyManager, Card, Card], tmp_path: Path
) -> None:
    m, old_card, new_card = rolled
    revoked = (Verdict.SIGNER_REVOKED, {"signer_revoked"})
    t = ROLL + 3 * DAY
    m.revoke_signer(old_card.signer_id, "key-compromise", t)
    lists = trust_lists(m, tmp_path, t)
    assert_verdicts(lists, old_card, t, {"old": revoked, "old+new": revoked, "old+link": revoked})
    assert_verdicts(lists, new_card, t, {"new": VALID, "old+new": VALID, "old+link": VALID})
    t += DAY
    m.revoke_signer(new_card.signer_id, "superseded", t)
    lists = trust_lists(m, tmp_path, t)
    assert_verdicts(lists, new_card, t, {"new": revoked, "old+new": revoked, "old+link": revoked})


@pytest.mark.parametrize("kind", sorted(FORGERIES))
def test_forged_link_makes_new_cards_forged(
    rolled: tuple[KeyManager, Card, Card], tmp_path: Path, kind: str
) -> None:
    m, old_card, new_card = rolled
    t = ROLL + 10 * DAY
    lists = trust_lists(m, tmp_path, t)
    forged = TrustList(lists["old"].roots, lists["old"].crls, links=(FORGERIES[kind][0](m),))
    verdict, codes = judge(forged, new_card, t)
    assert verdict is Verdict.FORGED and "signer_untrusted" in codes
    result = Verifier(forged).verify(new_card.record, now=t)
    [reason] = [r for r in result.reasons if r.code == "signer_untrusted"]
    assert FORGERIES[kind][1] in reason.message
    assert judge(forged, old_card, t) == (Verdict.VALID, set())  # old cards are unaffected


def test_local_trust_list_spans_the_rollover(keys: KeyManager) -> None:
    """The in-process verifiers (issuance read-back, endorsement desk, audit verification)
    take their trust list from the key directory: both roots, the link and both CRLs."""
    from card_service.audit.trust import local_trust

    m = keys
    old_card = issue(m, ROLL - DAY, seed=5)
    old_auditor = m.rotate_audit_signer(ROLL - DAY)  # under the old root
    m.rollover_root(ROLL)
    new_card = issue(m, ROLL + DAY, seed=6)
    new_auditor = m.registry.audit_signers[-1]
    assert (old_auditor.root_id, new_auditor.root_id) == ("root-01", "root-02")
    t = ROLL + 3 * DAY
    trust = m.trust_list()
    assert len(trust.roots) == 2 and len(trust.links) == 1 and len(trust.crls) == 2
    for card in (old_card, new_card):
        assert judge(trust, card, t) == (Verdict.VALID, set())
    # audit checkpoints sealed by the old and by the new audit signer both still verify
    for auditor, at in ((old_auditor, ROLL - DAY), (new_auditor, ROLL + DAY)):
        leaf = m.certificate(auditor.cert_file)
        local_trust(m).validate_audit_signer([leaf], at=at, now=t)
    m.revoke_signer(old_card.signer_id, "key-compromise", t)
    assert judge(m.trust_list(), old_card, t + DAY)[0] is Verdict.SIGNER_REVOKED
