"""A private pcscd with vpcd readers, for tests and benchmarks.

The system pcscd (if any) is left alone: the private one runs in its own mount
namespace where a tmpfs hides the system's ``/run/pcscd`` and a per-instance
run directory is bind-mounted in its place, so its socket appears at
``<run dir>/pcscd.comm`` in the normal namespace.  Clients reach it by setting
``PCSCLITE_CSOCK_NAME`` to that path before libpcsclite is first used.

Each reader.conf entry for ``libifdvpcd.so`` with ``CHANNELID P`` gives two
readers (``"<name> 00 00"`` on TCP port P and ``"<name> 00 01"`` on P+1), so
``slots`` simulated cards need ``ceil(slots / 2)`` entries on consecutive ports.
Needs root (for ``unshare --mount``), pcscd and vsmartcard-vpcd.
"""

from __future__ import annotations

import logging
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = [
    "VPCD_DRIVER",
    "PrivatePcscd",
    "PrivatePcscdUnavailable",
    "find_free_ports",
    "missing_requirements",
    "pcscd_script",
    "reader_conf",
]

logger = logging.getLogger(__name__)

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")


class PrivatePcscdUnavailable(RuntimeError):
    """The private pcscd could not be started (the message says why)."""


def missing_requirements() -> list[str]:
    """What is missing on this machine to run a private pcscd (empty if nothing)."""
    missing = []
    for tool in ("pcscd", "unshare", "mount"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            missing.append(f"{tool} (not on PATH)")
    if not VPCD_DRIVER.exists():
        missing.append(f"{VPCD_DRIVER} (package vsmartcard-vpcd)")
    if os.geteuid() != 0:
        missing.append("root privileges (for unshare --mount)")
    return missing


def reader_conf(name: str, base_port: int, slots: int) -> str:
    """reader.conf entries for ``slots`` vpcd readers on ports base_port, base_port+1, ..."""
    entries = []
    for i in range((slots + 1) // 2):
        port = base_port + 2 * i
        entries.append(
            f'FRIENDLYNAME "{name}"\n'
            f"DEVICENAME /dev/null:0x{port:04X}\n"
            f"LIBPATH {VPCD_DRIVER}\n"
            f"CHANNELID 0x{port:04X}\n"
        )
    return "\n".join(entries)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("0.0.0.0", port))  # vpcd listens on all interfaces  # noqa: S104
        except OSError:
            return False
    return True


def find_free_ports(count: int, *, low: int = 20000, high: int = 60000) -> int:
    """A base port P such that P .. P+count-1 are all free (best effort: may race)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(low, high - count) & ~1
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise PrivatePcscdUnavailable("no free TCP port range for vpcd")


def _listening(port: int) -> bool:
    """Whether something listens on TCP ``port`` (read from /proc, no connection made:
    connecting to vpcd would look like a card insertion)."""
    want = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[1].endswith(want) and fields[3] == "0A":
                return True
    return False


def _die_with_parent() -> None:
    """Ask the kernel to SIGTERM the child when we die (no pcscd left behind by a killed
    test run).  Survives exec (unshare -> bash -> pcscd); Linux only, best effort."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: S110 - optional hardening
        pass


def pcscd_script(run_dir: Path, conf_dir: Path) -> str:
    """The ``bash -c`` script run inside the private mount namespace.

    Every interpolated path is ``shlex.quote``d: a directory name with quotes, spaces,
    ``$(...)`` or ``;`` reaches ``mount``/``pcscd`` as one literal argument.
    """
    run, conf = shlex.quote(str(run_dir)), shlex.quote(str(conf_dir))
    return (
        "mount -t tmpfs tmpfs /run/pcscd && "
        f"mount --bind {run} /run/pcscd && "
        f"exec pcscd -f -c {conf}"
    )


class PrivatePcscd:
    """Start/stop a private pcscd under ``directory`` with vpcd readers for ``slots`` cards."""

    def __init__(
        self,
        directory: Path,
        *,
        slots: int = 2,
        base_port: int | None = None,
        reader_name: str = "Permit vpcd",
    ) -> None:
        self.directory = Path(directory)
        self.slots = max(1, slots)
        self.reader_name = reader_name
        self._requested_port = base_port
        self.base_port = base_port or 0
        self.conf_dir = self.directory / "reader.conf.d"
        self.run_dir = self.directory / "run"
        self.log_path = self.directory / "pcscd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "pcscd.comm"

    @property
    def env(self) -> dict[str, str]:
        """Environment additions that point PC/SC clients at this pcscd."""
        return {"PCSCLITE_CSOCK_NAME": str(self.socket_path)}

    def port(self, slot: int) -> int:
        """TCP port the vicc for ``slot`` connects to."""
        return self.base_port + slot

    def reader_names(self) -> list[str]:
        """Reader names pcscd gives the vpcd readers, in slot order."""
        return [f"{self.reader_name} {i // 2:02X} {i % 2:02X}" for i in range(self.slots)]

    def start(self, timeout: float = 10.0) -> PrivatePcscd:
        missing = missing_requirements()
        if missing:
            raise PrivatePcscdUnavailable(
                "cannot run a private pcscd: missing " + ", ".join(missing)
            )
        n_ports = 2 * ((self.slots + 1) // 2)
        self.base_port = self._requested_port or find_free_ports(n_ports)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "vpcd").write_text(
            reader_conf(self.reader_name, self.base_port, self.slots)
        )
        Path("/run/pcscd").mkdir(parents=True, exist_ok=True)
        script = pcscd_script(self.run_dir, self.conf_dir)
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(  # noqa: S603
            ["unshare", "--mount", "--propagation", "private", "bash", "-c", script],  # noqa: S607
            preexec_fn=_die_with_parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        ports = [self.port(i) for i in range(n_ports)]
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PrivatePcscdUnavailable(
                    f"pcscd exited with {self._proc.returncode}: {self.log_tail()}"
                )
            if self.socket_path.exists() and all(_listening(p) for p in ports):
                logger.debug("private pcscd up at %s, vpcd ports %s", self.socket_path, ports)
                return self
            time.sleep(0.02)
        self.stop()
        raise PrivatePcscdUnavailable(f"pcscd did not come up in {timeout}s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> PrivatePcscd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
