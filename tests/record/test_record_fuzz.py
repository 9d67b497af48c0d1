"""Random and mutated bytes through the public verify function: never an exception."""

from __future__ import annotations

import datetime as dt
import random

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from card_service.record import CardProof, Verdict, present
from card_service.record.disclosure import MERCHANT

from .conftest import NOW, World

NOT_VALID = set(Verdict) - {Verdict.VALID}


def no_internal_error(result: object) -> bool:
    """Bad data is reported as findings, not caught as an unexpected exception."""
    return "internal_error" not in {r.code for r in result.reasons}  # type: ignore[attr-defined]


cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.binary(max_size=40)
    | st.text(max_size=20)
    | st.dates().map(lambda d: cbor2.CBORTag(1004, d.isoformat())),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=8) | st.integers(-5, 40), children, max_size=5)
        | st.builds(cbor2.CBORTag, st.sampled_from([0, 1, 18, 24, 1004]), children)
    ),
    max_leaves=20,
)

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(world: World, data: bytes) -> None:
    result = world.verifier().verify(data, now=NOW, endorsements=data[:100])
    assert result.verdict in NOT_VALID and result.reasons
    assert no_internal_error(result)


@FUZZ
@given(cbor_values)
def test_random_cbor_structures(world: World, value: object) -> None:
    try:
        data = cbor2.dumps(value)
    except Exception:
        return
    result = world.verifier().verify(data, now=NOW, endorsements=data)
    assert result.verdict in NOT_VALID
    assert no_internal_error(result)


@FUZZ
@given(cbor_values, st.integers(0, 3))
def test_structured_replacements(world: World, value: object, slot: int) -> None:
    """Replace a part of a real record by an arbitrary CBOR value."""
    top = cbor2.loads(world.record)
    auth = list(top["issuerAuth"])
    auth[slot] = value
    try:
        data = cbor2.dumps({"nameSpaces": top["nameSpaces"], "issuerAuth": auth})
    except Exception:
        return
    result = world.verifier().verify(data, now=NOW)
    assert result.verdict in NOT_VALID
    assert no_internal_error(result)


@FUZZ
@given(st.randoms(use_true_random=False), st.integers(1, 8))
def test_mutated_presentations_and_endorsements(world: World, rng: random.Random, n: int) -> None:
    shown = bytearray(present(world.record, MERCHANT))
    for _ in range(n):
        op = rng.randrange(3)
        pos = rng.randrange(len(shown))
        if op == 0:
            shown[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            del shown[pos]
        else:
            shown.insert(pos, rng.randrange(256))
    proof = CardProof(rng.randbytes(rng.randrange(0, 80)), rng.randbytes(rng.randrange(0, 70)))
    result = world.verifier().verify(
        bytes(shown), now=NOW, endorsements=bytes(shown[:300]), card_proof=proof
    )
    assert result.verdict in NOT_VALID
    assert no_internal_error(result)


def test_wrong_input_types_do_not_raise(world: World) -> None:
    verifier = world.verifier()
    for value in (None, 12, "text", [1, 2], bytearray(b"\xa0")):
        result = verifier.verify(value, now=NOW)  # type: ignore[arg-type]
        assert result.verdict is Verdict.MALFORMED
    odd = CardProof("x", None)  # type: ignore[arg-type]
    assert verifier.verify(world.record, now=NOW, card_proof=odd).verdict is Verdict.CLONED
    assert verifier.verify(world.record, now=NOW, endorsements=[b"\x00", 5]).verdict is (  # type: ignore[list-item]
        Verdict.MALFORMED
    )


def test_now_must_be_aware(world: World) -> None:
    import pytest

    with pytest.raises(ValueError):
        world.verifier().verify(world.record, now=dt.datetime(2026, 1, 1))
