"""A PostgreSQL server of the test's own: ``initdb`` on a temporary data directory, a free
port on loopback, trust authentication, no Unix socket outside that directory; started,
stopped and restarted with ``pg_ctl`` so a test can pull the database from under the service.

``initdb`` refuses to run as root: as root every command runs as the ``postgres`` user
(``runuser -u postgres``), and the directory is made theirs.  Without PostgreSQL's binaries
(``/usr/lib/postgresql/*/bin``) or, as root, without a ``postgres`` user, the test skips
(a failure under ``PERMIT_REQUIRE_ALL``, tests/require_all.py).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

__all__ = ["PrivatePostgres", "postgres_bin", "postgres_unavailable"]

#: The server's user when the tests run as root.
SERVER_USER = "postgres"
DATABASE = "permit"


def postgres_bin() -> Path | None:
    """The newest PostgreSQL binary directory with initdb and pg_ctl, if any."""
    found = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for directory in reversed(found):
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def postgres_unavailable() -> str | None:
    """Why a private PostgreSQL cannot run here (``None``: it can)."""
    if postgres_bin() is None:
        return "PostgreSQL's binaries are not installed (/usr/lib/postgresql/*/bin)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run initdb"
        if shutil.which("runuser") is None:
            return "running as root and runuser is not installed"
    return None


@dataclass
class PrivatePostgres:
    """initdb + pg_ctl on ``directory`` (made by :meth:`create`), listening on ``port``."""

    directory: Path
    port: int
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "server.log"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the test's database."""
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{DATABASE}"

    @classmethod
    def create(cls, port: int) -> PrivatePostgres:
        """initdb a cluster in a new temporary directory (owned by the server's user), start
        it and create the test's database."""
        directory = Path(tempfile.mkdtemp(prefix="permit-pg-"))
        server = cls(directory, port)
        try:
            if os.geteuid() == 0:
                user = pwd.getpwnam(SERVER_USER)
                os.chown(directory, user.pw_uid, user.pw_gid)
            server._run(
                "initdb",
                "-D",
                str(server.data),
                "-U",
                SERVER_USER,
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            )
            server.start()
            with psycopg.connect(server.admin_dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"CREATE DATABASE {DATABASE}")
        except BaseException:
            server.destroy()
            raise
        return server

    def _options(self) -> str:
        return (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.directory} -c fsync=off "
            "-c max_connections=200"
        )

    def _run(self, tool: str, *args: str) -> None:
        binary = postgres_bin()
        assert binary is not None
        command = [str(binary / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise AssertionError(
                f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}\nserver log: {tail}"
            )

    def _ctl(self, action: str, *extra: str) -> None:
        self._run(
            "pg_ctl",
            action,
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            *extra,
        )

    def start(self) -> None:
        self._ctl("start", "-o", self._options())

    def stop(self) -> None:
        """A fast shutdown: every session is cut off, in-flight transactions roll back."""
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: cut every session off and come back on the same port."""
        self._ctl("restart", "-m", "fast", "-o", self._options())

    def running(self) -> bool:
        try:
            with psycopg.connect(self.admin_dsn, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def destroy(self) -> None:
        """Stop the server (immediately) and delete its directory."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._ctl("stop", "-m", "immediate")
            except AssertionError:
                pass
        shutil.rmtree(self.directory, ignore_errors=True)
