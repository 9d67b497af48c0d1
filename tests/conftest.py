"""Shared fixtures: ``card_env`` runs a test against the simulator driver and
against real PC/SC (a private pcscd with vpcd, fed by a VpcdBridge)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from reader_drivers.base import CardConnection, ReaderDriver
from simulators.card import SimulatedCard
from simulators.pcscd_private import PrivatePcscd
from tests.filemodes import umask  # noqa: F401  (a fixture for every test folder)
from tests.pcscd import start_private_pcscd
from tests.require_all import (  # noqa: F401  (hooks: every skip fails on CI)
    pytest_make_collect_report,
    pytest_report_header,
    pytest_runtest_makereport,
)
from tests.secretlog import HARVESTERS, SecretLog

KVN = 1


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


@dataclass
class CardEnv:
    kind: str
    driver: ReaderDriver
    reader: str
    empty_reader: str
    card: Any
    master_key: bytes
    kvn: int
    _insert: Callable[[], None]
    _remove: Callable[[], None]
    connections: list[CardConnection] = field(default_factory=list)

    def connect(self, **kw: Any) -> CardConnection:
        conn = self.driver.connect(self.reader, **kw)
        self.connections.append(conn)
        return conn

    def insert(self) -> None:
        self._insert()

    def remove(self) -> None:
        self._remove()

    def card_present(self, reader: str | None = None) -> bool:
        name = reader or self.reader
        return any(r.name == name and r.card_present for r in self.driver.list_readers())


def new_blank_card() -> tuple[Any, bytes]:
    master_key = os.urandom(16)
    card = SimulatedCard.manufacture(master_keys={KVN: master_key}, kvn=KVN, durable=False)
    return card, master_key


@pytest.fixture(scope="session")
def private_pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePcscd]:
    directory = tmp_path_factory.mktemp("pcscd")
    pcscd = start_private_pcscd(directory, slots=2)
    # must happen before libpcsclite is first used in this process
    os.environ.update(pcscd.env)
    try:
        yield pcscd
    finally:
        pcscd.stop()


def _discard(_: object) -> None:
    return None


def _sim_env() -> Iterator[CardEnv]:
    from reader_drivers.sim import SimReaderDriver

    driver = SimReaderDriver(slots=2)
    card, mk = new_blank_card()
    reader, empty = driver.reader_names[0], driver.reader_names[1]
    driver.insert(0, card)
    env = CardEnv(
        "sim",
        driver,
        reader,
        empty,
        card,
        mk,
        KVN,
        _insert=lambda: _discard(driver.insert(0, card)),
        _remove=lambda: _discard(driver.remove(0)),
    )
    yield env
    for conn in env.connections:
        conn.disconnect()


def _pcsc_env(pcscd: PrivatePcscd) -> Iterator[CardEnv]:
    from reader_drivers.pcsc import PcscReaderDriver
    from simulators.vpcd import VpcdBridge

    card, mk = new_blank_card()
    reader, empty = pcscd.reader_names()[0], pcscd.reader_names()[1]
    bridge = VpcdBridge(card, port=pcscd.port(0)).start()
    driver = PcscReaderDriver()

    def present() -> bool:
        return any(r.name == reader and r.card_present for r in driver.list_readers())

    def insert() -> None:
        bridge.insert()
        wait_until(present, what=f"card present in {reader}")

    def remove() -> None:
        bridge.remove()
        wait_until(lambda: not present(), what=f"card gone from {reader}")

    wait_until(present, what=f"card present in {reader}")
    env = CardEnv("pcsc", driver, reader, empty, card, mk, KVN, insert, remove)
    try:
        yield env
    finally:
        for conn in env.connections:
            try:
                conn.disconnect()
            except Exception:
                pass
        bridge.stop()
        wait_until(lambda: not present(), what=f"card gone from {reader} after the test")
        driver.close()


@pytest.fixture(params=["sim", pytest.param("pcsc", marks=pytest.mark.pcsc)])
def card_env(request: pytest.FixtureRequest) -> Iterator[CardEnv]:
    if request.param == "sim":
        yield from _sim_env()
    else:
        yield from _pcsc_env(request.getfixturevalue("private_pcscd"))


@pytest.fixture
def secret_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretLog]:
    """Logs captured at level 1 on every logger, searched for every secret the harvesters
    of tests/secretlog.py (``HARVESTERS``) see: call ``secret_log.assert_clean(require=...)``
    at the end of the scenario; any leak also fails the test at teardown."""
    log = SecretLog(monkeypatch)
    for harvest in HARVESTERS:
        harvest(log)
    with log.capture():
        yield log
    leaks = log.leaks()
    assert not leaks, f"secrets in the logs: {leaks}"
