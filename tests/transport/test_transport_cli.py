"""The ``permit`` CLI: simulator fleet against a private pcscd, readers, control socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from card_service.card import wire
from simulators.pcscd_private import PrivatePcscd
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
SELECT_APDU = "00A4040008" + wire.AID.hex().upper()  # 00A4040008F05045524D495401
SW_OK = "SW1=0x90, SW2=0x00"  # how opensc-tool -s prints 9000


def permit_argv() -> list[str]:
    """The ``permit`` entry point, run with this interpreter (no console script needed)."""
    return [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())"]


class Sim:
    """A ``permit sim start`` subprocess with its own PERMIT_HOME."""

    def __init__(self, home: Path, pcscd: PrivatePcscd, cards: int = 2) -> None:
        self.home = home
        self.pcscd = pcscd
        self.cards = cards
        self.env = dict(os.environ, PERMIT_HOME=str(home), PYTHONPATH=str(ROOT), **pcscd.env)
        self.env.pop("PERMIT_READERS", None)
        self.proc: subprocess.Popen[str] | None = None

    @property
    def control(self) -> Path:
        return self.home / "sim" / "control.sock"

    def start(self) -> Sim:
        self.proc = proc = subprocess.Popen(
            [
                *permit_argv(),
                "sim",
                "start",
                "--cards",
                str(self.cards),
                "--port",
                str(self.pcscd.port(0)),
            ],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until(lambda: self.control.exists() or proc.poll() is not None, 15, "control socket")
        assert self.proc.poll() is None, self.proc.communicate()
        self.wait_cards([True] * self.cards)
        return self

    def stop(self) -> tuple[int, str, str]:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=15)
        code = self.proc.returncode
        self.proc = None
        wait_until(lambda: not any(self.presence()), 10, "readers to empty after stop")
        return code, out, err

    def run(
        self, *args: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [*permit_argv(), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)
        return out

    def tool(self, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def readers(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.run("readers", "--json").stdout)
        return rows

    def presence(self) -> list[bool]:
        by_name = {r["reader"]: r["card_present"] for r in self.readers()}
        return [bool(by_name.get(n)) for n in self.pcscd.reader_names()[: self.cards]]

    def wait_cards(self, expected: list[bool]) -> None:
        wait_until(lambda: self.presence() == expected, 10, f"card presence {expected}")

    def list_cards(self) -> list[dict[str, Any]]:
        cards: list[dict[str, Any]] = json.loads(self.run("sim", "list", "--json").stdout)
        return cards


@pytest.fixture
def sim(tmp_path: Path, private_pcscd: PrivatePcscd) -> Iterator[Sim]:
    s = Sim(tmp_path / "home", private_pcscd).start()
    try:
        yield s
    finally:
        if s.proc is not None:
            s.proc.kill()
            s.proc.communicate()
            wait_until(lambda: not any(s.presence()), 10, "readers to empty")


@pytest.mark.pcsc
def test_readers_json_shows_cards(sim: Sim) -> None:
    rows = {r["reader"]: r for r in sim.readers()}
    first = rows[sim.pcscd.reader_names()[0]]
    assert first["card_present"] is True
    assert first["atr"] == wire.atr().hex().upper()
    text = sim.run("readers").stdout
    assert sim.pcscd.reader_names()[0] in text and wire.atr().hex().upper() in text


@pytest.mark.pcsc
def test_opensc_tool_through_private_pcscd(sim: Sim) -> None:
    listing = sim.tool("opensc-tool", "-l")
    assert listing.returncode == 0, listing.stderr
    assert sim.pcscd.reader_names()[0] in listing.stdout
    sent = sim.tool("opensc-tool", "-r", "0", "-s", SELECT_APDU)
    assert sent.returncode == 0, sent.stderr
    assert SW_OK in sent.stdout, sent.stdout
    assert wire.AID.hex(" ").upper() in sent.stdout


@pytest.mark.pcsc
def test_pcsc_scan_lists_readers(sim: Sim) -> None:
    try:
        out = sim.tool("pcsc_scan", "-r", timeout=10)
    except subprocess.TimeoutExpired:
        pytest.skip("pcsc_scan -r does not terminate on this version")
    assert sim.pcscd.reader_names()[0] in out.stdout + out.stderr


@pytest.mark.pcsc
def test_insert_remove_and_list(sim: Sim) -> None:
    cards = sim.list_cards()
    assert [c["card"] for c in cards] == [0, 1]
    assert all(c["inserted"] and c["life_cycle"] == "BLANK" for c in cards)
    assert sim.run("sim", "remove", "1").stdout.strip() == "card 1: removed"
    sim.wait_cards([True, False])
    assert [c["inserted"] for c in sim.list_cards()] == [True, False]
    sim.run("sim", "insert", "1")
    sim.wait_cards([True, True])


@pytest.mark.pcsc
def test_tear_removes_card_mid_command(sim: Sim) -> None:
    out = sim.run("sim", "tear", "0", "--after", "1", "--phase", "mid")
    assert "armed" in out.stdout
    assert sim.list_cards()[0]["tear_armed"] is True
    sent = sim.tool("opensc-tool", "-r", "0", "-s", SELECT_APDU)
    assert SW_OK not in sent.stdout
    sim.wait_cards([False, True])
    assert sim.list_cards()[0]["inserted"] is False
    sim.run("sim", "insert", "0")
    sim.wait_cards([True, True])
    assert SW_OK in sim.tool("opensc-tool", "-r", "0", "-s", SELECT_APDU).stdout


@pytest.mark.pcsc
def test_restart_reuses_card_images(sim: Sim) -> None:
    before = {c["serial"]: c for c in sim.list_cards()}
    images = sorted((sim.home / "sim" / "cards").glob("*.card"))
    assert {p.stem for p in images} == set(before)
    keys = sim.home / "sim" / "issuer-master-keys.json"
    assert keys.stat().st_mode & 0o777 == 0o600
    assert (sim.home.stat().st_mode & 0o777) == 0o700
    code, _, err = sim.stop()
    assert code == 0, err
    assert not sim.control.exists()
    sim.start()
    assert {c["serial"] for c in sim.list_cards()} == set(before)
    assert sorted((sim.home / "sim" / "cards").glob("*.card")) == images


@pytest.mark.pcsc
def test_sim_start_exits_cleanly_on_sigint(sim: Sim) -> None:
    assert sim.proc is not None
    sim.proc.send_signal(signal.SIGINT)
    sim.proc.communicate(timeout=15)
    assert sim.proc.returncode == 0
    sim.proc = None
    wait_until(lambda: not any(sim.presence()), 10, "readers to empty")


def test_control_without_simulator(tmp_path: Path) -> None:
    env = dict(os.environ, PERMIT_HOME=str(tmp_path / "nohome"), PYTHONPATH=str(ROOT))
    for args in (["sim", "list"], ["sim", "insert", "0"], ["sim", "tear", "0", "--after", "1"]):
        out = subprocess.run([*permit_argv(), *args], env=env, capture_output=True, text=True)
        assert out.returncode == 1
        assert out.stderr.startswith("permit: simulator not running (no control socket at ")
        assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["bogus"],
        ["sim"],
        ["sim", "start", "--cards", "0"],
        ["sim", "start", "--timing", "warp"],
        ["sim", "insert", "x"],
        ["sim", "tear", "0"],
        ["sim", "tear", "0", "--after", "0"],
        ["sim", "tear", "0", "--after", "1", "--phase", "late"],
        ["readers", "--driver", "usb"],
    ],
)
def test_bad_arguments_exit_2(args: list[str], tmp_path: Path) -> None:
    env = dict(os.environ, PERMIT_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    out = subprocess.run([*permit_argv(), *args], env=env, capture_output=True, text=True)
    assert out.returncode == 2, out
    assert "error" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.pcsc
def test_bad_card_number_is_runtime_error(sim: Sim) -> None:
    out = sim.run("sim", "insert", "7", check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == "permit: no card 7 (cards are 0..1)"


def test_main_in_process_returns_codes(capsys: pytest.CaptureFixture[str]) -> None:
    from api.cli import main

    assert main(["--help"]) == 0
    assert main(["sim", "tear", "1"]) == 2
    time.sleep(0)


@pytest.mark.pcsc
def test_personalised_card_survives_restart(sim: Sim) -> None:
    """Personalise card 0 through pcscd (issuer channel, PIN, a file), restart the
    simulator: the card comes back PERSONALISING with its file and PIN."""
    from card_service.card.scp03 import diversify_card_keys
    from card_service.card.session import PermitCardSession
    from reader_drivers.pcsc import PcscReaderDriver

    keys_file = sim.home / "sim" / "issuer-master-keys.json"
    master = {int(k): bytes.fromhex(v) for k, v in json.loads(keys_file.read_text()).items()}
    reader = sim.pcscd.reader_names()[0]
    record = b"\xa1\x01\x02" * 100

    def session() -> tuple[PcscReaderDriver, Any, PermitCardSession]:
        driver = PcscReaderDriver()
        conn = driver.connect(reader)
        s = PermitCardSession(conn)
        s.select()
        return driver, conn, s

    driver, conn, s = session()
    s.open_issuer_channel(lambda serial, kvn: diversify_card_keys(master[kvn], serial, kvn))
    s.begin_personalisation()
    s.write_file(wire.FileId.RECORD, record)
    s.set_pin("123456")
    conn.disconnect()
    driver.close()
    serial = sim.list_cards()[0]["serial"]
    assert sim.list_cards()[0]["life_cycle"] == "PERSONALISING"

    code, _, err = sim.stop()
    assert code == 0, err
    sim.start()
    cards = {c["serial"]: c for c in sim.list_cards()}
    assert cards[serial]["life_cycle"] == "PERSONALISING"
    index = cards[serial]["card"]
    driver = PcscReaderDriver()
    conn = driver.connect(sim.pcscd.reader_names()[index])
    s = PermitCardSession(conn)
    s.select()
    assert s.read_file(wire.FileId.RECORD) == record
    s.verify_pin("123456")
    conn.disconnect()
    driver.close()


def test_readers_without_pcscd_and_bad_driver(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PCSCLITE_CSOCK_NAME=str(tmp_path / "none.comm"))
    env.pop("PERMIT_READERS", None)
    out = subprocess.run([*permit_argv(), "readers"], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    assert "pcscd" in out.stderr and "Traceback" not in out.stderr
    env["PERMIT_READERS"] = "bogus"
    out = subprocess.run([*permit_argv(), "readers"], env=env, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == "permit: unknown reader driver 'bogus'; valid names: pcsc, sim"
