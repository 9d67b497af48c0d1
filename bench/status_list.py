"""Status list benchmark: prints one JSON line.

Builds and signs the Token Status List (CWT, ``bits`` = 2) of 10 million permits with a
realistic mix (98.9 % VALID, 1 % INVALID, 0.1 % SUSPENDED, at random indices), and reports
the median time to build and sign it from a mapping of the non-VALID indices (what the
register will hand over), its size in bytes, and the time a verifier takes to parse and
verify it.  In the same run it times two baselines: ZLIB at the same level (9, the draft's
recommendation) over an all-zero byte array of the same length (2.5 MB), and over the very
packed array of the list, the part no encoder of this format at that level can avoid; the
ratio to the latter says what packing, CBOR and the signature add.

The run is bounded: at most ``--rounds`` rounds and at most ``--max-seconds`` seconds.
Usage: ``python bench/status_list.py [--permits N] [--rounds N] [--max-seconds S]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from card_service.record.ephemeral_pki import EphemeralPki
from card_service.status import Status, build_status_list, load_status_list
from card_service.status.encoding import PERMIT_BITS, entries_of, pack

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
URI = "https://permit.example/status/1"


def statuses(permits: int, seed: int = 11) -> dict[int, Status]:
    """1 % INVALID and 0.1 % SUSPENDED at random distinct indices, the rest VALID."""
    rng = random.Random(seed)
    invalid, suspended = permits // 100, permits // 1000
    chosen = rng.sample(range(permits), invalid + suspended)
    out = dict.fromkeys(chosen[:invalid], Status.INVALID)
    out.update(dict.fromkeys(chosen[invalid:], Status.SUSPENDED))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--permits", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=90.0)
    args = parser.parse_args()
    pki = EphemeralPki.create(NOW - dt.timedelta(days=1))
    signer = pki.new_status_signer(NOW - dt.timedelta(hours=1))
    trust = pki.trust(NOW)
    mix = statuses(args.permits)
    zeros = bytes(-(-args.permits * PERMIT_BITS // 8))
    packed = pack(entries_of(mix, args.permits))
    build_s: list[float] = []
    baseline_s: list[float] = []
    same_s: list[float] = []
    verify_s: list[float] = []
    token = b""
    deadline = time.monotonic() + args.max_seconds
    while len(build_s) < args.rounds and (not build_s or time.monotonic() < deadline):
        start = time.perf_counter()
        zlib.compress(zeros, 9)
        baseline_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        zlib.compress(packed, 9)
        same_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        token = build_status_list(mix, args.permits, URI, signer, NOW)
        build_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        check = load_status_list(token, trust, NOW, uri=URI)
        verify_s.append(time.perf_counter() - start)
        assert check.status_list is not None
    index, status = next(iter(mix.items()))
    assert check.status_of(index, NOW).verdict.value == status.name.lower()
    build_ms = statistics.median(build_s) * 1000
    baseline_ms = statistics.median(baseline_s) * 1000
    same_ms = statistics.median(same_s) * 1000
    print(
        json.dumps(
            {
                "bench": "status_list",
                "permits": args.permits,
                "invalid": sum(1 for s in mix.values() if s is Status.INVALID),
                "suspended": sum(1 for s in mix.values() if s is Status.SUSPENDED),
                "rounds": len(build_s),
                "build_and_sign_ms": round(build_ms, 1),
                "token_bytes": len(token),
                "uncompressed_bytes": len(zeros),
                "baseline_zlib_zeros_ms": round(baseline_ms, 1),
                "ratio_to_zeros": round(build_ms / baseline_ms, 2),
                "baseline_zlib_same_array_ms": round(same_ms, 1),
                "ratio_to_zlib_same_array": round(build_ms / same_ms, 2),
                "verify_ms": round(statistics.median(verify_s) * 1000, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
