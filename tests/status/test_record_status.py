"""The record verifier with a status list (offline verification): the record's status
reference looked up in a signed list.  INVALID is REVOKED, SUSPENDED is SUSPENDED, and every
way the list cannot say (no list, expired, bad signature, untrusted signer, index beyond the
list, another list's URI, a format-1 record) is STATUS_UNKNOWN with its reason: never VALID,
never REVOKED."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.record import (
    ListStatus,
    StatusKind,
    StatusReference,
    Verdict,
    Verifier,
    sign_record,
)
from card_service.record.ephemeral_pki import EphemeralPki, EphemeralSigner
from card_service.record.sample import synthetic_applicant
from card_service.status import Status, build_status_list, load_status_list, record_status

SIGNED = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)
NOW = SIGNED + dt.timedelta(days=1)
URI = "https://permit.example/v1/status-list"
DAY = dt.timedelta(days=1)


class World:
    def __init__(self) -> None:
        self.pki = EphemeralPki.create(SIGNED - 30 * DAY)
        self.signer = self.pki.new_signer(SIGNED - 10 * DAY)
        self.list_signer = self.pki.new_status_signer(SIGNED - DAY)
        self.card = ec.generate_private_key(ec.SECP256R1())
        self.data = synthetic_applicant(SIGNED, seed=4)

    def record(self, idx: int | None, uri: str = URI) -> bytes:
        return sign_record(
            self.data,
            card_key=self.card.public_key(),
            signer_key=self.signer.key,
            signer_chain=self.signer.chain,
            now=SIGNED,
            status=None if idx is None else StatusReference(idx, uri),
        )

    def token(
        self,
        signer: EphemeralSigner | None = None,
        *,
        issued: dt.datetime = NOW,
        size: int = 64,
        uri: str = URI,
    ) -> bytes:
        everything = {5: Status.INVALID, 6: Status.SUSPENDED, 0: Status.INVALID}
        statuses = {i: s for i, s in everything.items() if i < size}
        return build_status_list(
            statuses, size, uri, signer or self.list_signer, issued, 300, lifetime=DAY
        )

    def verifier(self, token: bytes | None, now: dt.datetime = NOW) -> Verifier:
        trust = self.pki.trust(now)
        return Verifier(trust, status=record_status(load_status_list(token, trust, now)))


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def codes(result: object) -> list[str]:
    return [r.code for r in result.reasons]  # type: ignore[attr-defined]


def test_valid_revoked_suspended_from_the_list(world: World) -> None:
    verifier = world.verifier(world.token())
    valid = verifier.verify(world.record(4), now=NOW)
    assert valid.verdict is Verdict.VALID and codes(valid) == []
    revoked = verifier.verify(world.record(5), now=NOW)
    assert revoked.verdict is Verdict.REVOKED and codes(revoked) == ["status_revoked"]
    suspended = verifier.verify(world.record(6), now=NOW)
    assert suspended.verdict is Verdict.SUSPENDED and codes(suspended) == ["status_suspended"]


def test_without_a_status_source_the_reference_is_not_consulted(world: World) -> None:
    result = Verifier(world.pki.trust(NOW)).verify(world.record(5), now=NOW)
    assert result.verdict is Verdict.VALID


def _flip_signature(token: bytes) -> bytes:
    return token[:-1] + bytes([token[-1] ^ 1])


UNKNOWN_CASES = [
    ("no_list", lambda w: None, NOW, 4),
    ("malformed", lambda w: b"\xa0", NOW, 4),
    ("bad_signature", lambda w: _flip_signature(w.token()), NOW, 4),
    ("expired", lambda w: w.token(), NOW + 2 * DAY, 5),
    ("not_yet_valid", lambda w: w.token(issued=NOW + DAY), NOW, 5),
    ("index_out_of_range", lambda w: w.token(size=4), NOW, 5),
    ("wrong_uri", lambda w: w.token(uri="https://other.example/list"), NOW, 5),
    ("untrusted_signer", lambda w: w.token(signer=w.signer), NOW, 5),  # a document signer
]


@pytest.mark.parametrize(
    ("reason", "make", "now", "idx"), UNKNOWN_CASES, ids=[c[0] for c in UNKNOWN_CASES]
)
def test_status_unknown_is_neither_valid_nor_revoked(
    world: World, reason: str, make: object, now: dt.datetime, idx: int
) -> None:
    token = make(world)  # type: ignore[operator]
    result = world.verifier(token, now).verify(world.record(idx), now=now)
    assert result.verdict is Verdict.STATUS_UNKNOWN, result.reasons
    assert codes(result) == [f"status_unknown_{reason}"]
    assert not result.valid


def test_a_format1_record_has_no_status_to_look_up(world: World) -> None:
    result = world.verifier(world.token()).verify(world.record(None), now=NOW)
    assert result.verdict is Verdict.STATUS_UNKNOWN
    assert codes(result) == ["status_unknown_no_reference"]


def test_a_failing_source_is_unknown_not_valid(world: World) -> None:
    def broken(reference: StatusReference, now: dt.datetime) -> ListStatus:
        raise RuntimeError("down")

    result = Verifier(world.pki.trust(NOW), status=broken).verify(world.record(4), now=NOW)
    assert result.verdict is Verdict.STATUS_UNKNOWN
    assert codes(result) == ["status_unknown_unavailable"]


def test_a_reason_code_from_a_source_is_never_echoed_raw(world: World) -> None:
    def odd(reference: StatusReference, now: dt.datetime) -> ListStatus:
        return ListStatus(StatusKind.UNKNOWN, "evil code; with text")

    result = Verifier(world.pki.trust(NOW), status=odd).verify(world.record(4), now=NOW)
    assert codes(result) == ["status_unknown_unavailable"]


def test_worse_verdicts_still_win(world: World) -> None:
    # an expired record with an unknown status is EXPIRED; a revoked one stays REVOKED
    later = SIGNED + 6 * 366 * DAY
    trust = world.pki.trust(later)
    verifier = Verifier(trust, status=record_status(load_status_list(None, trust, later)))
    result = verifier.verify(world.record(4), now=later)
    assert result.verdict is Verdict.EXPIRED
    assert "status_unknown_no_list" in codes(result)
