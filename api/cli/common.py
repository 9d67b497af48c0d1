"""Helpers shared by the CLI subcommands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any


class CliError(Exception):
    """An expected failure: printed as one line, exit code ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=None, sort_keys=True)
    sys.stdout.write("\n")
    sys.stdout.flush()


def instant(text: str) -> dt.datetime:
    """An argparse type: an ISO 8601 date-time with a time zone."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone (e.g. Z or +08:00)")
    return value


def utc_now() -> dt.datetime:
    """The wall clock, for commands run by people (the domain takes ``now`` as a parameter)."""
    return dt.datetime.now(dt.UTC)
