"""Issuance benchmark: prints one JSON line.

* ``host_ms_per_issuance``: wall time per issuance on the in-process simulator with no card
  timing, minus the time spent inside the card's ``transmit`` (SQLite register file).
* ``host_cpu_ms_per_issuance``: the same as process CPU time (without waiting for the
  database's durable commits).
* ``pcsc_ms_per_issuance``: total wall time per issuance through a private pcscd with vpcd
  and the simulator (``null`` when pcscd/vpcd are not available).
* ``host_ms_per_issuance_postgres``: the same on a scratch PostgreSQL database
  (``PERMIT_BENCH_POSTGRES``, default 127.0.0.1:5432; ``null`` when unreachable).
* ``throughput_per_s``: issuances per second with 1, 2 and 4 readers in parallel under the
  ``contact`` timing model; ``efficiency`` = throughput(4) / (4 x throughput(1)).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from card_service.office.ephemeral import Sandbox
from reader_drivers.sim import SimReaderDriver
from simulators.card import SimulatedCard
from simulators.metered import MeteredCard
from simulators.timing import TimingModel

NOW = dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.UTC)


def _sim(world: Sandbox) -> SimReaderDriver:
    assert isinstance(world.driver, SimReaderDriver)
    return world.driver


def _card(world: Sandbox, timing: str) -> SimulatedCard:
    return SimulatedCard.manufacture(
        master_keys={world.kvn: world.master_key},
        kvn=world.kvn,
        durable=False,
        timing=TimingModel.preset(timing),
    )


def host_time(world: Sandbox, count: int) -> tuple[float, float]:
    """(wall ms, CPU ms) per issuance, both without the time spent inside the card."""
    total = card = cpu = 0.0
    for _ in range(count):
        app, app_id = world.application()
        timed = MeteredCard(_card(world, "none"))
        reader = _sim(world).insert(0, timed)
        start, start_cpu = time.perf_counter(), time.process_time()
        world.workflow().issue(app, app_id, reader, NOW)
        total += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        card += timed.seconds
        _sim(world).remove(0)
    return (total - card) / count * 1000, (cpu - card) / count * 1000


def pcsc_time(world: Sandbox, count: int, directory: Path) -> float | None:
    """Wall ms per issuance through pyscard -> private pcscd -> vpcd -> simulator."""
    import os

    from card_service.card.access import CardAccess
    from card_service.workflows import IssuanceWorkflow
    from simulators.pcscd_private import PrivatePcscd, missing_requirements

    if missing_requirements():
        return None
    pcscd = PrivatePcscd(directory, slots=1).start()
    try:
        os.environ.update(pcscd.env)  # before pyscard is first used
        from reader_drivers.pcsc import PcscReaderDriver
        from simulators.vpcd import VpcdBridge

        driver = PcscReaderDriver()
        reader = pcscd.reader_names()[0]
        workflow = IssuanceWorkflow(world.register, world.issuer, CardAccess(driver))

        def present(want: bool) -> None:
            deadline = time.monotonic() + 10
            while any(r.name == reader and r.card_present for r in driver.list_readers()) != want:
                if time.monotonic() > deadline:
                    raise RuntimeError("vpcd reader did not change state")
                time.sleep(0.01)

        total = 0.0
        for _ in range(count):
            app, app_id = world.application()
            bridge = VpcdBridge(_card(world, "none"), port=pcscd.port(0)).start()
            try:
                present(True)
                start = time.perf_counter()
                workflow.issue(app, app_id, reader, NOW)
                total += time.perf_counter() - start
            finally:
                bridge.stop()
            present(False)
        driver.close()
        return total / count * 1000
    finally:
        pcscd.stop()


def throughput(world: Sandbox, readers: int, per_reader: int) -> float:
    jobs = []
    for i in range(readers):
        _sim(world).remove(i)
    for _ in range(per_reader * readers):
        jobs.append(world.application())

    def run(i: int) -> None:
        for n in range(per_reader):
            app, app_id = jobs[i * per_reader + n]
            reader = _sim(world).insert(i, _card(world, "contact"))
            world.workflow().issue(app, app_id, reader, NOW)
            _sim(world).remove(i)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=readers) as pool:
        list(pool.map(run, range(readers)))
    return readers * per_reader / (time.perf_counter() - start)


def postgres_host_time(count: int) -> float | None:
    """Host ms per issuance on a scratch PostgreSQL database (``None`` if unreachable)."""
    import uuid

    import psycopg
    from psycopg import sql

    admin = os.environ.get("PERMIT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"permit_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error:
        return None
    try:
        url = admin.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
        world = Sandbox.create(f"{url}/{name}", SimReaderDriver(slots=4), NOW)
        try:
            host_time(world, 3)
            return host_time(world, count)[0]
        finally:
            world.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        world = Sandbox.create(url, SimReaderDriver(slots=4), NOW)
        host_time(world, 3)  # warm up
        host_ms, host_cpu_ms = host_time(world, 20)
        pcsc_ms = pcsc_time(world, 5, Path(tmp) / "pcscd")
        rates = {
            n: throughput(world, n, int(os.environ.get("PERMIT_BENCH_PER_READER", "3")))
            for n in (1, 2, 4)
        }
        world.engine.dispose()
    pg_ms = postgres_host_time(20)
    print(
        json.dumps(
            {
                "host_ms_per_issuance": round(host_ms, 2),
                "host_cpu_ms_per_issuance": round(host_cpu_ms, 2),
                "pcsc_ms_per_issuance": None if pcsc_ms is None else round(pcsc_ms, 1),
                "database": "sqlite file (durable commits)",
                "host_ms_per_issuance_postgres": None if pg_ms is None else round(pg_ms, 2),
                "host_target_ms": 20,
                "host_target_met": host_ms < 20 and (pg_ms is None or pg_ms < 20),
                "throughput_per_s": {str(k): round(v, 3) for k, v in rates.items()},
                "efficiency": round(rates[4] / (4 * rates[1]), 3),
                "efficiency_target": 0.8,
                "now": NOW.isoformat(),
                "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
    )


if __name__ == "__main__":
    main()
