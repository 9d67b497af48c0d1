"""The seams of the split verifier: signer failures decided on the key layer's reason enum,
the record's one parser (with and without the signed-digest fast path), ``require_utc``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import cbor2
import pytest
from cryptography import x509

from card_service.record import NAMESPACE, Verdict, Verifier, endorse, signer_check
from card_service.record.cose import parse_sign1
from card_service.record.issuer_signed import ParsedItem, decode_record, parse_record
from card_service.record.mso import parse_mso
from keys.clock import NaiveDateTime
from keys.errors import SignerFailure, SignerValidationError
from keys.trust import TrustList

from .conftest import NOW, World


def codes(result: Any) -> set[str]:
    return {r.code for r in result.reasons}


def failing(message: str, reason: SignerFailure) -> Any:
    def validate(
        trust: TrustList, chain: Sequence[x509.Certificate], at: dt.datetime, now: dt.datetime
    ) -> x509.Certificate:
        raise SignerValidationError(message, reason)

    return validate


def test_a_window_word_in_the_message_is_not_a_window_failure(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decision is on ``reason``: reading the message again would fail this test."""
    message = "signed outside the signer's signing window"
    monkeypatch.setattr(
        signer_check, "validate_signer", failing(message, SignerFailure.CHAIN_INVALID)
    )
    result = world.verifier().verify(world.record, now=NOW)
    assert result.verdict is Verdict.FORGED
    assert "signer_untrusted" in codes(result)
    assert "signer_not_valid_at_signing" not in codes(result)
    [reason] = [r for r in result.reasons if r.code == "signer_untrusted"]
    assert reason.message == message


@pytest.mark.parametrize(
    ("failure", "code", "verdict"),
    [
        (SignerFailure.OUTSIDE_SIGNING_WINDOW, "signer_not_valid_at_signing", Verdict.FORGED),
        (SignerFailure.NO_SIGNING_WINDOW, "signer_not_valid_at_signing", Verdict.FORGED),
        (SignerFailure.REVOKED, "signer_revoked", Verdict.SIGNER_REVOKED),
        (SignerFailure.CRL_NOT_CURRENT, "signer_revocation_unknown", Verdict.SIGNER_REVOKED),
        (SignerFailure.NO_CRL, "signer_revocation_unknown", Verdict.SIGNER_REVOKED),
        (SignerFailure.CRL_INVALID, "signer_revocation_unknown", Verdict.SIGNER_REVOKED),
        (SignerFailure.LINK_INVALID, "signer_untrusted", Verdict.FORGED),
    ],
)
def test_the_reason_enum_decides_whatever_the_message(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    failure: SignerFailure,
    code: str,
    verdict: Verdict,
) -> None:
    monkeypatch.setattr(signer_check, "validate_signer", failing("no hint here", failure))
    result = world.verifier().verify(world.record, now=NOW)
    assert result.verdict is verdict and code in codes(result), result.reasons


def test_an_endorsement_signer_is_judged_the_same_way(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = world.data.first_endorsement_due
    when = dt.datetime.combine(due, dt.time(2), dt.UTC)  # on the due date: on time
    signer = world.pki.new_signer(when - dt.timedelta(days=1))
    item = endorse(world.record, b"", signer_key=signer.key, signer_chain=signer.chain, now=when)
    later = when + dt.timedelta(days=10)
    good = world.verifier(later).verify(world.record, now=later, endorsements=item)
    assert good.verdict is Verdict.VALID, good.reasons
    monkeypatch.setattr(
        signer_check, "validate_signer", failing("no hint", SignerFailure.OUTSIDE_SIGNING_WINDOW)
    )
    result = world.verifier(later).verify(world.record, now=later, endorsements=item)
    assert {"signer_not_valid_at_signing", "endorsement_signer_not_valid_at_signing"} <= codes(
        result
    )


def test_a_cached_signer_is_not_validated_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = world.verifier()
    first = verifier.verify(world.record, now=NOW)
    assert first.verdict is Verdict.VALID and first.signer
    monkeypatch.setattr(
        signer_check, "validate_signer", failing("unused", SignerFailure.CHAIN_INVALID)
    )
    again = verifier.verify(world.record, now=NOW)
    assert again.verdict is Verdict.VALID and again.signer == first.signer


def _mso_digests(record: bytes) -> Any:
    return parse_mso(parse_sign1(decode_record(record).issuer_auth).payload).value_digests


def test_one_parser_the_fast_path_gives_the_same_entries(world: World) -> None:
    plain = parse_record(world.record)
    fast = parse_record(decode_record(world.record), signed_digests=_mso_digests(world.record))
    assert fast == plain
    assert len(plain.items) == len(plain.entries) == 16 and plain.problems == ()


def _with_first_item(record: bytes, item: bytes) -> bytes:
    top = cbor2.loads(record)
    entries = list(top["nameSpaces"][NAMESPACE])
    entries[0] = cbor2.CBORTag(24, item)
    top["nameSpaces"][NAMESPACE] = entries
    return cbor2.dumps(top, canonical=True)


def test_an_item_out_of_order_is_kept_flagged_but_never_presented(world: World) -> None:
    first = cbor2.loads(world.record)["nameSpaces"][NAMESPACE][0].value
    item = cbor2.loads(first)
    shuffled = cbor2.dumps(dict(reversed(list(item.items()))))  # same pairs, other key order
    record = _with_first_item(world.record, shuffled)
    for parsed in (
        parse_record(record),
        parse_record(decode_record(record), signed_digests=_mso_digests(record)),
    ):
        [entry] = [e for e in parsed.entries if isinstance(e, ParsedItem) and not e.exact]
        assert entry.identifier == item["elementIdentifier"]
        assert entry not in parsed.items and ("item_encoding", NAMESPACE) in parsed.problems
    result = world.verifier().verify(record, now=NOW)
    assert result.verdict is Verdict.MALFORMED
    assert {"item_encoding", "digest_mismatch"} <= codes(result)  # digest over the bytes


def test_an_entry_that_is_not_tag24_is_a_problem_in_place(world: World) -> None:
    top = cbor2.loads(world.record)
    entries = list(top["nameSpaces"][NAMESPACE])
    entries.insert(1, b"not an item")
    top["nameSpaces"][NAMESPACE] = entries
    record = cbor2.dumps(top, canonical=True)
    parsed = parse_record(record)
    assert parsed.problems == (("item_not_tag24", NAMESPACE),)
    assert not isinstance(parsed.entries[1], ParsedItem) and len(parsed.items) == 16
    result = world.verifier().verify(record, now=NOW)
    assert result.verdict is Verdict.MALFORMED and "item_not_tag24" in codes(result)


def test_a_naive_now_is_a_programming_error(world: World) -> None:
    verifier: Verifier = world.verifier()
    with pytest.raises(NaiveDateTime):
        verifier.verify(world.record, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        verifier.verify(world.record, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError):
        verifier.verify(world.record, now="2026-11-29")  # type: ignore[arg-type]
