"""End to end: the officer CLI exactly as an operator runs it, through real PC/SC.

Every step is the ``permit`` console script in a subprocess with the station's environment
(``PERMIT_HOME``, key passphrase, database URL, authority code, ``PERMIT_READERS=pcsc``) and
the private pcscd's socket: ``permit sim start`` feeds two blank simulated cards (keys
diversified from the issuer master key) to the pcscd's vpcd readers, and the officer
commands reach them through libpcsclite like any reader.  Runs on SQLite and PostgreSQL.

Expected failures must be one line (``permit: error: ...``, exit 1); no command may print a
traceback; the PIN letter's PIN and PUK never reach the logs, even at ``-vv``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from card_service.record.schedule import first_endorsement_due, local_date, minus_one_month
from simulators.pcscd_private import PrivatePcscd
from tests.conftest import wait_until
from tests.dbfixtures import KEY_PASSPHRASE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "application.json"
AUTHORITY = "330106"
ISSUED = re.compile(r"^issued permit (\d{18}) on card ([0-9A-F]+)$", re.M)
REPLACED = re.compile(r"^permit (\d{18}) replaced by (\d{18}) on card ([0-9A-F]+)$", re.M)
PIN_LETTER = re.compile(r"^PIN letter: PIN (\d{6})  PUK (\d{8})$", re.M)


def permit_command() -> list[str]:
    """The ``permit`` console script of this environment (what an operator types)."""
    script = Path(sys.executable).with_name("permit")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    # not installed as a package: the same entry point, run by this interpreter
    return [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())"]


def station_env(home: Path, db_url: str, pcscd: PrivatePcscd) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERMIT_")}
    env.update(
        PERMIT_HOME=str(home),
        PERMIT_KEY_PASSPHRASE=KEY_PASSPHRASE,
        PERMIT_DATABASE_URL=db_url,
        PERMIT_AUTHORITY_CODE=AUTHORITY,
        PERMIT_READERS="pcsc",
        **pcscd.env,
    )
    return env


def run_permit(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [*permit_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert "Traceback" not in out.stderr, (args, out.stderr)
    assert "Traceback" not in out.stdout, (args, out.stdout)
    return out


def one_line_error(out: subprocess.CompletedProcess[str], exit_code: int = 1) -> str:
    """The message of an expected failure, which must be exactly one ``permit:`` line."""
    assert out.returncode == exit_code, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("permit: error: "), out.stderr
    return lines[0]


class Station:
    """One officer station: its PERMIT_HOME, register, keys and a ``permit sim`` process."""

    def __init__(self, home: Path, db_url: str, pcscd: PrivatePcscd) -> None:
        self.home = home
        self.db_url = db_url
        self.pcscd = pcscd
        self.env = station_env(home, db_url, pcscd)
        self.readers = pcscd.reader_names()[:2]
        self.sim: subprocess.Popen[str] | None = None
        self.sim_out = home.parent / "sim.out"
        self.sim_err = home.parent / "sim.err"

    # -- commands -------------------------------------------------------------------------

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_permit(self.env, self.home.parent, *args)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        out = self.run(*args)
        assert out.returncode == 0, (args, out.returncode, out.stdout, out.stderr)
        return out

    def fails(self, *args: str) -> str:
        """Run a command that must fail with one ``permit: error: ...`` line; that line."""
        return one_line_error(self.run(*args))

    def verify(self, reader: str) -> tuple[int, dict[str, Any]]:
        out = self.run("verify", "--reader", reader, "--json")
        assert out.returncode in (0, 1), (out.returncode, out.stdout, out.stderr)
        report: dict[str, Any] = json.loads(out.stdout)
        return out.returncode, report

    # -- the simulator --------------------------------------------------------------------

    def presence(self) -> list[bool]:
        rows = json.loads(self.ok("readers", "--json").stdout)
        by_name = {r["reader"]: r["card_present"] for r in rows}
        return [bool(by_name.get(name)) for name in self.readers]

    def start_sim(self) -> None:
        assert self.presence() == [False, False], "cards left in the readers by another test"
        with self.sim_out.open("w") as out, self.sim_err.open("w") as err:
            self.sim = proc = subprocess.Popen(
                [
                    *permit_command(),
                    "sim",
                    "start",
                    "--cards",
                    "2",
                    "--card-keys",
                    "issuer",
                    "--port",
                    str(self.pcscd.port(0)),
                ],
                env=self.env,
                cwd=self.home.parent,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                text=True,
            )

        def up() -> bool:
            assert proc.poll() is None, f"permit sim start exited: {self.sim_err.read_text()}"
            return self.presence() == [True, True]

        wait_until(up, 20, "both simulated cards present in the pcscd readers")

    def sim_serials(self) -> list[str]:
        """Card serials as ``permit sim start`` printed them, in card (= reader) order."""
        found = re.findall(r"^card (\d+): serial ([0-9a-f]+) BLANK", self.sim_out.read_text(), re.M)
        return [serial.upper() for _, serial in sorted(found)]

    def stop_sim(self) -> tuple[int, str]:
        """SIGTERM the simulator as Ctrl-C would; its exit code and stderr.  The readers are
        empty again afterwards (the next test sees no stale cards)."""
        proc, self.sim = self.sim, None
        if proc is None:
            return 0, ""
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        wait_until(lambda: self.presence() == [False, False], 15, "readers to empty")
        return proc.returncode, self.sim_err.read_text()

    # -- the database, behind the CLI's back ----------------------------------------------

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        url = make_url(self.db_url)
        if url.get_backend_name() == "sqlite":
            assert url.database
            with closing(sqlite3.connect(url.database)) as conn:
                rows = conn.execute(statement).fetchall()
                conn.commit()
            return rows
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def count(self, table: str) -> int:
        rows = self.sql(f"SELECT count(*) FROM {table}")
        return int(rows[0][0])


@pytest.fixture
def station(tmp_path: Path, db_url: str, private_pcscd: PrivatePcscd) -> Iterator[Station]:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # an existing PERMIT_HOME must be private (issue 9, §3)
    st = Station(home, db_url, private_pcscd)
    try:
        yield st
    finally:
        if st.sim is not None:
            st.sim.kill()
            st.sim.wait(timeout=10)
            st.sim = None
            wait_until(lambda: st.presence() == [False, False], 15, "readers to empty")


def application_file(tmp_path: Path) -> Path:
    """docs/examples/application.json, unless today (China time) its first endorsement
    window is open or about to open: then the same application with a residence start
    whose first endorsement is ~3 months away, so that ``permit endorse`` is never due
    whatever the date the suite runs on."""
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    began = dt.date.fromisoformat(doc["application"]["residence_began"])
    today = local_date(dt.datetime.now(dt.UTC))
    if minus_one_month(first_endorsement_due(began, today)) - today > dt.timedelta(days=2):
        return EXAMPLE
    later = today + dt.timedelta(days=100)
    doc["application"]["residence_began"] = later.replace(
        year=later.year - 5, day=min(later.day, 28)
    ).isoformat()
    path = tmp_path / "application.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def assert_secrets_not_logged(out: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The PIN letter is on stdout; the PIN and PUK are nowhere in the ``-vv`` log."""
    letter = PIN_LETTER.search(out.stdout)
    assert letter is not None, out.stdout
    pin, puk = letter.groups()
    assert "DEBUG" in out.stderr  # really at debug level
    for secret in (pin, puk):
        assert not re.search(rf"(?<!\d){secret}(?!\d)", out.stderr), "PIN/PUK in the log"
    return pin, puk


@pytest.mark.pcsc
def test_officer_cli_end_to_end(station: Station, tmp_path: Path) -> None:
    first, second = station.readers
    app = str(application_file(tmp_path))

    # 1. a new station: register schema and issuer keys
    assert "up to date" in station.ok("register", "migrate").stdout
    assert "initialised keys" in station.ok("keys", "init", "--city", "Hangzhou").stdout

    # 2. two blank cards with issuer-diversified keys in the two vpcd readers
    station.start_sim()
    serial1, serial2 = station.sim_serials()

    # 3. issue onto the first card; the PIN letter is printed, never logged
    out = station.ok("-vv", "issue", "--reader", first, app)
    issued = ISSUED.search(out.stdout)
    assert issued is not None, out.stdout
    number, serial = issued.groups()
    assert number.startswith(AUTHORITY) and serial == serial1
    assert_secrets_not_logged(out)

    # 4. full verification, card and register
    code, report = station.verify(first)
    assert code == 0 and report["passed"] is True, report
    assert report["register_state"] == "ISSUED" and report["permit_number"] == number
    assert report["card_serial"] == serial1 and report["problems"] == []

    # 5. endorsement is not due yet: the window opens a month before the first anniversary
    show = json.loads(station.ok("register", "show", number, "--json").stdout)
    assert show["state"] == "ISSUED"
    message = station.fails("endorse", "--reader", first)
    assert f"endorsement window opens on {show['window_opens']}" in message

    # 6. the same application again, onto the second card: the person holds a permit
    message = station.fails("issue", "--reader", second, app)
    assert "active_permit_exists" in message

    # 7. replace (damaged) onto the second card: the first card fails, the second passes
    out = station.ok("-vv", "replace", number, "--reason", "damaged", "--reader", second, app)
    replaced = REPLACED.search(out.stdout)
    assert replaced is not None, out.stdout
    old, new, serial = replaced.groups()
    assert old == number and new != number and serial == serial2
    assert_secrets_not_logged(out)
    text = station.run("verify", "--reader", first)
    assert text.returncode == 1 and "register_revoked" in text.stdout, text.stdout
    code, report = station.verify(second)
    assert code == 0 and report["passed"] is True, report
    assert report["permit_number"] == new and report["register_state"] == "ISSUED"

    # 8. the holder loses the new card
    assert f"permit {new} revoked (lost)" in station.ok("revoke", new, "--reason", "lost").stdout
    code, report = station.verify(second)
    assert code == 1 and report["passed"] is False
    assert report["register_state"] == "REVOKED" and "register_revoked" in report["problems"]

    # 9. the damaged first card is handed back and terminated
    assert f"card {serial1} terminated" in station.ok("terminate", "--reader", first).stdout
    code, report = station.verify(first)
    assert code == 1 and report["card_condition"] == "terminated", report

    # 11. bad inputs: one line each, and nothing recorded in the register
    applications, events = station.count("application"), station.count("audit_event")
    message = station.fails("issue", "--reader", "No Such Reader", app)
    assert "No Such Reader" in message and first in message and second in message
    malformed = tmp_path / "malformed.json"
    malformed.write_text(EXAMPLE.read_text(encoding="utf-8")[:300], encoding="utf-8")
    assert "not JSON" in station.fails("issue", "--reader", second, str(malformed))
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"format": "permit-application/1", "applicant": {}}', encoding="utf-8")
    assert "ApplicationError" in station.fails("issue", "--reader", second, str(wrong))
    assert "no such permit" in station.fails("revoke", "UNKNOWN", "--reason", "lost")
    assert (station.count("application"), station.count("audit_event")) == (applications, events)

    # 10. the audit log verifies; a row changed behind the register's back is named
    out = station.ok("audit", "verify", "--json")
    audit = json.loads(out.stdout)
    assert audit["ok"] is True and audit["entries_checked"] == events, audit
    station.sql("UPDATE audit_event SET result = 'x' WHERE seq = 3")
    out = station.run("audit", "verify", "--json")
    assert out.returncode == 1, (out.stdout, out.stderr)
    audit = json.loads(out.stdout)
    assert audit["ok"] is False and audit["first_bad_seq"] == 3, audit
    out = station.run("audit", "verify")
    assert out.returncode == 1 and "audit log BAD at entry 3" in out.stdout, out.stdout

    # the simulator stops cleanly on SIGTERM (Ctrl-C) and the readers empty
    code, err = station.stop_sim()
    assert code == 0 and "Traceback" not in err, err


def test_cli_configuration_and_database_failures_are_one_line(tmp_path: Path) -> None:
    """No reader needed: a register that is not migrated or not reachable, a bad database
    URL or reader driver name are one-line errors that echo neither SQL nor passwords."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERMIT_")}
    env.update(PERMIT_HOME=str(home), PERMIT_AUTHORITY_CODE=AUTHORITY, PERMIT_READERS="sim")

    def failure(url: str, *args: str, exit_code: int = 1, readers: str = "sim") -> str:
        out = run_permit(
            dict(env, PERMIT_DATABASE_URL=url, PERMIT_READERS=readers), tmp_path, *args
        )
        return one_line_error(out, exit_code)

    unmigrated = f"sqlite:///{tmp_path / 'empty.db'}"
    message = failure(unmigrated, "revoke", "3301062026000001X", "--reason", "lost")
    assert "permit register migrate" in message and "SELECT" not in message
    unreachable = "postgresql+psycopg://permit:s3cret-pw@127.0.0.1:1/register"
    message = failure(unreachable, "revoke", "3301062026000001X", "--reason", "lost")
    assert "OperationalError" in message and "s3cret-pw" not in message
    message = failure("bogus://x", "revoke", "N1", "--reason", "lost", exit_code=2)
    assert "unsupported database" in message
    message = failure("not a url", "register", "migrate", exit_code=2)
    assert "PERMIT_DATABASE_URL" in message
    message = failure(unmigrated, "revoke", "N1", "--reason", "lost", exit_code=2, readers="x")
    assert "unknown reader driver" in message
