"""A separate service process for the cross-process tests: one line of JSON on stdout.

``python -m tests.shared_state.worker consume URL PREFIX NONCE[,NONCE...] CLIENT NOW_MS``

Each prints ``ready`` once imported and connected, then waits for a line on stdin before it
starts: the test releases all its processes at once, so they really race.
``python -m tests.shared_state.worker hit URL PREFIX CLIENT CLASS NOW_MS COUNT``
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from card_service.shared_state import on_redis
from tests.shared_state.conftest import LIMITS


def main(argv: list[str]) -> None:
    command, url, prefix = argv[:3]
    state = on_redis(url, prefix, LIMITS)
    try:
        assert state.challenges.ping()
        print("ready", flush=True)
        sys.stdin.readline()
        if command == "consume":
            nonces, client, now_ms = argv[3:6]
            now = dt.datetime.fromtimestamp(int(now_ms) / 1000, dt.UTC)
            outcomes = [state.challenges.consume(n, client, now) for n in nonces.split(",")]
            print(json.dumps([str(outcome) for outcome in outcomes]))
        elif command == "hit":
            client, route_class, now_ms, count = argv[3:7]
            now = dt.datetime.fromtimestamp(int(now_ms) / 1000, dt.UTC)
            decisions = [state.limiter.hit(client, route_class, now) for _ in range(int(count))]
            print(json.dumps([[d.allowed, d.remaining, d.degraded] for d in decisions]))
        else:
            raise SystemExit(f"unknown command {command}")
    finally:
        state.close()


if __name__ == "__main__":
    main(sys.argv[1:])
