"""APDU round-trip benchmark: prints one JSON line.

Measures a short APDU (GET CHALLENGE, 8 bytes) through

* ``sim``:  the in-process simulator driver (the card's own cost plus the driver),
* ``pcsc``: pyscard -> private pcscd -> vpcd -> VpcdBridge -> simulator,

and, in the same run, a baseline: a raw loopback TCP echo round trip of the
same size, so results from different machines can be compared by ratio.
The issue's target: median under 1 ms through pcscd.  Needs root, pcscd and
vsmartcard-vpcd for the pcsc part (reported as skipped otherwise).

Usage: ``python bench/apdu_roundtrip.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from card_service.card import wire
from simulators.pcscd_private import PrivatePcscd, missing_requirements

APDU = bytes.fromhex("0084000008")  # GET CHALLENGE, 8 bytes


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered) * 1e3, 4), "p99_ms": round(p99 * 1e3, 4)}


def _measure(fn: Callable[[], object], rounds: int, warmup: int = 50) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def tcp_echo_baseline(rounds: int) -> list[float]:
    """Loopback TCP echo with the vpcd framing (2-byte length + body) and the same tricks."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def echo() -> None:
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = len(APDU).to_bytes(2, "big") + APDU

    def once() -> None:
        client.sendall(msg)
        got = 0
        while got < len(msg):
            got += len(client.recv(4096))

    try:
        return _measure(once, rounds)
    finally:
        client.close()
        server.close()


def new_card() -> object:
    from simulators.card import SimulatedCard

    return SimulatedCard.manufacture(master_keys={1: os.urandom(16)}, durable=False)


def sim_driver(rounds: int) -> list[float]:
    from reader_drivers.sim import SimReaderDriver

    driver = SimReaderDriver(slots=1)
    driver.insert(0, new_card())  # type: ignore[arg-type]
    conn = driver.connect(driver.reader_names[0])
    assert conn.transmit(APDU)[1] == wire.SW.OK
    return _measure(lambda: conn.transmit(APDU), rounds)


def pcsc_driver(rounds: int, directory: Path) -> list[float]:
    pcscd = PrivatePcscd(directory, slots=2).start()
    try:
        os.environ.update(pcscd.env)  # before pyscard is first used
        from reader_drivers.pcsc import PcscReaderDriver
        from simulators.vpcd import VpcdBridge

        bridge = VpcdBridge(new_card(), port=pcscd.port(0)).start()  # type: ignore[arg-type]
        try:
            driver = PcscReaderDriver()
            reader = pcscd.reader_names()[0]
            deadline = time.monotonic() + 10
            while not any(r.name == reader and r.card_present for r in driver.list_readers()):
                if time.monotonic() > deadline:
                    raise RuntimeError("card did not appear in the vpcd reader")
                time.sleep(0.02)
            conn = driver.connect(reader)
            assert conn.transmit(APDU)[1] == wire.SW.OK
            samples = _measure(lambda: conn.transmit(APDU), rounds)
            conn.disconnect()
            driver.close()
            return samples
        finally:
            bridge.stop()
    finally:
        pcscd.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    result: dict[str, object] = {"apdu": APDU.hex().upper(), "rounds": args.rounds}
    result["baseline_tcp_echo"] = base = _stats(tcp_echo_baseline(args.rounds))
    result["sim"] = _stats(sim_driver(args.rounds))
    missing = missing_requirements()
    if missing:
        result["pcsc"] = {"skipped": "missing " + ", ".join(missing)}
    else:
        with tempfile.TemporaryDirectory(prefix="permit-bench-") as tmp:
            pcsc = _stats(pcsc_driver(args.rounds, Path(tmp)))
        result["pcsc"] = pcsc
        result["pcsc_over_baseline"] = round(pcsc["median_ms"] / max(base["median_ms"], 1e-6), 2)
        result["target_median_ms"] = 1.0
        result["meets_target"] = pcsc["median_ms"] < 1.0
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
