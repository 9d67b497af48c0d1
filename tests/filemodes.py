"""File-mode test helpers shared by the keys, register and simulator tests: the mode of a path
(never following a link) and a ``umask`` fixture that runs a test under a permissive umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(int(request.param))
    try:
        yield int(request.param)
    finally:
        os.umask(old)
