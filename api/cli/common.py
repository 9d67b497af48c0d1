"""Helpers shared by the CLI subcommands.

Every input the CLI reads from outside goes through here: files with :func:`read_input`
(regular files only, a bounded read of at most ``limit + 1`` bytes, never ``read()`` of an
unbounded stream), instants with :func:`instant` (time zone required, inside
:data:`EARLIEST_INSTANT` .. :data:`LATEST_INSTANT`), durations with :func:`seconds` and permit
numbers with :func:`permit_number`.  A bad input is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

from card_service.office import Office
from card_service.office.errors import PermitError

#: The instants a command accepts (``--now``, ``--effective``): outside them date arithmetic
#: (validity windows, China time, endorsement years) could overflow, and no permit exists.
EARLIEST_INSTANT = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_INSTANT = dt.datetime(2199, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
#: Longest duration option (``--older-than``): ten years.
MAX_SECONDS = 10 * 366 * 86400.0
#: What a permit-number argument may look like: letters, digits and hyphens only (a number
#: the register does not hold is its "no such permit"; control characters never get that far).
_PERMIT_NUMBER = re.compile(r"[0-9A-Za-z-]{1,64}", re.ASCII)
_CHUNK = 64 * 1024


class CliError(PermitError):
    """An expected failure of the command line itself (an unreadable input file, a
    simulator that is not running): printed as ``permit: <message>``, exit ``exit_code``."""

    code = "cli_error"

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def open_office(*, on_progress: Any = None) -> Office:
    """The office of this process's settings (:meth:`Settings.from_env` of ``os.environ``)."""
    return Office.from_env(os.environ, on_progress=on_progress)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=None, sort_keys=True)
    sys.stdout.write("\n")
    sys.stdout.flush()


def instant(text: str) -> dt.datetime:
    """An argparse type: an ISO 8601 date-time with a time zone, in the accepted range."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone (e.g. Z or +08:00)")
    try:
        utc = value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST_INSTANT <= utc <= LATEST_INSTANT:
        raise argparse.ArgumentTypeError(
            f"must lie between {EARLIEST_INSTANT:%Y-%m-%d} and {LATEST_INSTANT:%Y-%m-%d}"
        )
    return utc


def seconds(text: str) -> float:
    """An argparse type: a finite, non-negative number of seconds (at most ten years)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number of seconds") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_SECONDS:.0f} seconds")
    return value


def permit_number(text: str) -> str:
    """An argparse type: a permit number argument (1-64 letters, digits or hyphens)."""
    if not _PERMIT_NUMBER.fullmatch(text):
        raise argparse.ArgumentTypeError("a permit number is letters and digits only")
    return text


def read_input(path: Path, limit: int, what: str) -> bytes:
    """The content of the regular file ``path``, at most ``limit`` bytes; else :class:`CliError`.

    Opened without blocking (a FIFO cannot hang the command), refused unless a regular file
    (``/dev/zero``, a directory), and read in bounded chunks up to ``limit + 1`` bytes so a
    file that grows while being read is refused too.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise CliError(f"error: cannot read {what} {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CliError(f"error: {what} {path} is not a regular file")
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise CliError(f"error: cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise CliError(f"error: {what} {path} is larger than {limit} bytes")
    return data


def utc_now() -> dt.datetime:
    """The wall clock, for commands run by people (the domain takes ``now`` as a parameter)."""
    return dt.datetime.now(dt.UTC)
