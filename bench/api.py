"""Relying-party verification throughput of the HTTP service: prints one JSON line.

Sets up a temporary office (file key store, a register: SQLite by default, ``--db postgres``
for a scratch database on 127.0.0.1:5432; shared state in Redis, ``--memory`` for 1 worker
in memory), issues one permit onto a simulated card and creates a ``relying_party`` client;
then runs the real service (uvicorn with uvloop and httptools, as ``permit serve`` does, over
the bench's own app factory :func:`bench_app`) at 1 and 2 workers and drives it from 64
keep-alive connections with a small asyncio HTTP/1.1 client, loopback only.

* **full**: ``POST /v1/verifications`` with a selective presentation and the card's answer
  over a fresh nonce: every timed request spends its own challenge (issued through
  ``POST /v1/challenges`` before its round, outside the timed loop, and signed with the
  card's key); each answer must be ``VALID``.  The service does everything it always does:
  authentication, rate limit, the nonce consumed in the shared store, the record, card
  proof and endorsements verified, the register's checks, the audit entry durable before
  the answer.
* **bare**: ``POST /bench/signatures`` in the same server, mounted only by :func:`bench_app`
  (never by the service's own factory), public: the same body decoded, then only the
  signature checks of one verification (issuerAuth with its signer's cached key, the card
  proof with the MSO's device key, each endorsement).

Rounds of bare and full alternate, so machine noise hits both alike; ``ratio`` is full / bare
throughput (target >= 0.6).  ``python bench/api.py [--requests N] [--rounds R]
[--workers 1,2] [--db sqlite|postgres] [--memory]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from fastapi import Request, Response  # noqa: E402

from card_service.card.wire import CARD_AUTH_DOMAIN  # noqa: E402
from card_service.record.cose import der_to_raw  # noqa: E402

TARGET_RATIO = 0.6
CONNECTIONS = 64
BARE_PATH = "/bench/signatures"
SCOPE = ("full_name", "expiry_date")
PASSPHRASE = "permit bench passphrase, not a secret"
ECDSA = ec.ECDSA(hashes.SHA256())
ADMIN_PG = os.environ.get("PERMIT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("PERMIT_BENCH_REDIS", "redis://127.0.0.1:6379/0")


# -- the server side: the service's app plus the bare endpoint ------------------------------


def bench_app() -> Any:
    """The service's app (:func:`api.http.main.app_from_env`) with ``POST /bench/signatures``
    added, public: only this bench's server has it."""
    from starlette.middleware import Middleware

    from api.http.main import app_from_env
    from api.http.middleware import RequireCredentials

    app = app_from_env()
    checks = _SignatureChecks()

    async def signatures(request: Request) -> Response:
        ok = checks.check(await request.body())
        return Response(json.dumps({"signatures": ok}), media_type="application/json")

    app.add_api_route(BARE_PATH, signatures, methods=["POST"], include_in_schema=False)
    for i, layer in enumerate(app.user_middleware):
        if layer.cls is RequireCredentials:  # type: ignore[comparison-overlap]
            public = layer.kwargs["public"]
            kwargs: dict[str, Any] = {
                **layer.kwargs,
                "public": lambda p, f=public: p == BARE_PATH or f(p),
            }
            app.user_middleware[i] = Middleware(RequireCredentials, **kwargs)
    return app


class _SignatureChecks:
    """The signature checks of one verification and nothing else."""

    def __init__(self) -> None:
        self._signers: dict[bytes, ec.EllipticCurvePublicKey] = {}

    def _key(self, der: bytes) -> ec.EllipticCurvePublicKey:
        key = self._signers.get(der)
        if key is None:
            from cryptography import x509

            loaded = x509.load_der_x509_certificate(der).public_key()
            assert isinstance(loaded, ec.EllipticCurvePublicKey)
            key = self._signers[der] = loaded
        return key

    def check(self, body: bytes) -> bool:
        from card_service.office import Presentation
        from card_service.record.cose import parse_sign1, raw_to_der
        from card_service.record.endorsement import split_endorsements
        from card_service.record.mso import parse_mso
        from card_service.record.record_parser import decode_record

        p = Presentation.from_json(json.loads(body))
        auth = parse_sign1(decode_record(p.record).issuer_auth)
        ok = auth.verify(self._key(auth.x5chain[0]))
        device = parse_mso(auth.payload).device_key
        assert device is not None
        nonce = base64.urlsafe_b64decode(p.nonce + "=")
        try:
            device.verify(raw_to_der(p.card_signature), CARD_AUTH_DOMAIN + nonce, ECDSA)
        except Exception:
            ok = False
        for item in split_endorsements(p.endorsements) if p.endorsements else ():
            e = parse_sign1(item, tagged=True)
            ok = e.verify(self._key(e.x5chain[0])) and ok
        return ok


# -- set-up: keys, register, one issued card, a relying-party client -------------------------


@dataclass(frozen=True)
class Fixture:
    env: dict[str, str]
    key: str
    record: bytes
    endorsements: bytes
    card: ec.EllipticCurvePrivateKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _database(kind: str, home: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{home / 'register.db'}"
        return
    import psycopg
    from psycopg import sql

    name = f"permit_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_PG, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        base = ADMIN_PG.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_PG, autocommit=True) as conn:
            drop = "DROP DATABASE IF EXISTS {} WITH (FORCE)"
            conn.execute(sql.SQL(drop).format(sql.Identifier(name)))


def setup(home: Path, db_url: str, redis: str | None) -> Fixture:
    from card_service.office import Office, Settings
    from card_service.workflows.application import synthetic_application
    from simulators.card import SimulatedCard

    env = {
        "PERMIT_HOME": str(home),
        "PERMIT_DATABASE_URL": db_url,
        "PERMIT_KEY_PASSPHRASE": PASSPHRASE,
        "PERMIT_READERS": "sim",
        "PERMIT_AUTHORITY_CODE": "330106",
        "PERMIT_RATE_LIMITS": "default=1000000/1,challenges=1000000/1",
    }
    if redis is not None:
        env["PERMIT_REDIS_URL"] = redis
        env["PERMIT_REDIS_PREFIX"] = f"permit-bench-{uuid.uuid4().hex[:8]}:"
    now = dt.datetime.now(dt.UTC)
    issued_at = now - dt.timedelta(days=1)
    with Office.from_settings(Settings.from_env(env)) as office:
        office.init_keys(now - dt.timedelta(days=2))
        office.migrate_register()
        created = office.create_client("bench", "relying_party", now, scope=SCOPE)
        serial = os.urandom(8)
        keys = office.card_keys(serial)
        card = SimulatedCard.manufacture_with_keys(
            kvn=keys.kvn, serial=serial, k_enc=keys.enc, k_mac=keys.mac, k_dek=keys.dek,
            durable=False,
        )  # fmt: skip
        reader = office.cards.driver.insert(0, card)  # type: ignore[attr-defined]
        office.issue(synthetic_application(issued_at, seed=11), reader, issued_at)
        template = office.present_card(reader, _b64(b"\0" * 32), SCOPE)
        scalar = card._store.state.card_key
        assert scalar is not None
    private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    return Fixture(env, created.key, template.record, template.endorsements, private)


def presentation(fixture: Fixture, nonce: str) -> bytes:
    """The body of ``POST /v1/verifications``: the card's answer over ``nonce``."""
    message = CARD_AUTH_DOMAIN + base64.urlsafe_b64decode(nonce + "=")
    signature = der_to_raw(fixture.card.sign(message, ECDSA))
    return json.dumps(
        {
            "format": "permit-presentation/1",
            "nonce": nonce,
            "record": _b64(fixture.record),
            "endorsements": _b64(fixture.endorsements),
            "card_signature": _b64(signature),
        }
    ).encode()


# -- the load: a small asyncio HTTP/1.1 client ------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)


def _head(path: str, key: str | None) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()


async def _connect(port: int, count: int) -> list[Connection]:
    pairs = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
    return [Connection(r, w) for r, w in pairs]


async def _drive(
    conns: list[Connection], head: bytes, bodies: list[bytes], expect: bytes
) -> tuple[float, list[float], int]:
    """Send ``bodies`` over ``conns`` (each connection one request at a time): elapsed
    seconds, latencies, and how many answers were not 200 with ``expect`` in the body."""
    queue = list(reversed(bodies))
    latencies: list[float] = []
    bad = 0

    async def worker(conn: Connection) -> None:
        nonlocal bad
        clock = time.perf_counter
        while queue:
            body = queue.pop()
            begun = clock()
            status, answer = await conn.request(head, body)
            latencies.append(clock() - begun)
            if status != 200 or expect not in answer:
                bad += 1

    begun = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    return time.perf_counter() - begun, latencies, bad


async def _challenges(conns: list[Connection], key: str, count: int) -> list[str]:
    head, nonces = _head("/v1/challenges", key), []

    async def worker(conn: Connection, n: int) -> None:
        for _ in range(n):
            status, answer = await conn.request(head, b"")
            if status != 201:
                raise RuntimeError(f"challenge refused: {status} {answer[:200]!r}")
            nonces.append(json.loads(answer)["nonce"])

    share = [count // len(conns) + (i < count % len(conns)) for i in range(len(conns))]
    await asyncio.gather(*(worker(c, n) for c, n in zip(conns, share, strict=True)))
    return nonces


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and every descendant (the server's workers)."""
    total, todo, tick = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):
            continue
    return total


Run = tuple[float, list[float], int, float]


def _summary(runs: list[Run]) -> dict[str, Any]:
    elapsed = sum(r[0] for r in runs)
    latencies = sorted(x for r in runs for x in r[1])
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "requests": len(latencies),
        "server_cpu_ms": round(sum(r[3] for r in runs) / len(latencies) * 1000, 3),
        "errors": sum(r[2] for r in runs),
    }


async def _timed(
    pid: int, conns: list[Connection], head: bytes, bodies: list[bytes], expect: bytes
) -> Run:
    """:func:`_drive` and the server's CPU seconds meanwhile (every process of it)."""
    before = _cpu_seconds(pid)
    elapsed, latencies, bad = await _drive(conns, head, bodies, expect)
    return elapsed, latencies, bad, _cpu_seconds(pid) - before


async def _measure(
    fixture: Fixture, server: int, port: int, requests: int, rounds: int
) -> dict[str, Any]:
    conns = await _connect(port, CONNECTIONS)
    try:
        verify_head, bare_head = _head("/v1/verifications", fixture.key), _head(BARE_PATH, None)
        warm = [presentation(fixture, n) for n in await _challenges(conns, fixture.key, 128)]
        await _drive(conns, verify_head, warm, b'"VALID"')
        await _drive(conns, bare_head, warm, b"true")
        full: list[Run] = []
        bare: list[Run] = []
        for _ in range(rounds):
            nonces = await _challenges(conns, fixture.key, requests)
            bodies = [presentation(fixture, n) for n in nonces]
            bare.append(await _timed(server, conns, bare_head, bodies, b"true"))
            full.append(await _timed(server, conns, verify_head, bodies, b'"VALID"'))
    finally:
        for conn in conns:
            conn.writer.close()
    made_full, made_bare = _summary(full), _summary(bare)
    return {
        "full": made_full,
        "bare": made_bare,
        "ratio": round(made_full["per_s"] / made_bare["per_s"], 3),
        "cpu_ratio": round(made_bare["server_cpu_ms"] / made_full["server_cpu_ms"], 3)
        if made_full["server_cpu_ms"]
        else None,
    }


# -- the server process -----------------------------------------------------------------------


@contextmanager
def serve(fixture: Fixture, workers: int) -> Iterator[tuple[int, int]]:
    """The service on a free loopback port: (its process id, the port)."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PERMIT_", "PROMETHEUS_"))},
        **fixture.env,
        "PYTHONPATH": str(ROOT),
    }
    metrics = None
    if workers > 1:  # as permit serve does (api/cli/serve.py, metrics_dir)
        metrics = tempfile.mkdtemp(prefix="permit-bench-metrics-")
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics
    command = [
        sys.executable, "-m", "uvicorn", "bench.api:bench_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if probe.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.2)
        time.sleep(0.5 * workers)  # every worker has bound and built its app
        yield server.pid, port
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if metrics is not None:
            shutil.rmtree(metrics, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per round and kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--memory", action="store_true", help="in-memory shared state")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    if args.memory and max(counts) > 1:
        parser.error("--memory: one worker only (each worker has its own nonces)")
    runner: Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]] = asyncio.run
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        pass
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir(mode=0o700)
        with _database(args.db, home) as url:
            fixture = setup(home, url, None if args.memory else REDIS)
            for workers in counts:
                with serve(fixture, workers) as (pid, port):
                    measured = runner(_measure(fixture, pid, port, args.requests, args.rounds))
                results[str(workers)] = measured
    ratios = [r["ratio"] for r in results.values()]
    print(
        json.dumps(
            {
                "bench": "api",
                "connections": CONNECTIONS,
                "database": args.db,
                "shared_state": "memory" if args.memory else "redis",
                "workers": results,
                "ratio": min(ratios),
                "target_ratio": TARGET_RATIO,
                "target_met": min(ratios) >= TARGET_RATIO,
                "errors": sum(r["full"]["errors"] + r["bare"]["errors"] for r in results.values()),
                "bare": "same server, public route: body decode + issuerAuth, card proof and "
                "endorsement signature checks",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
