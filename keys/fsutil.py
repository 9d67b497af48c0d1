"""Private files: directories 0700, files 0600, atomic replacement.

New files are written to a temporary name in the same directory, fsynced, then renamed with
``os.replace``; a reader sees the old or the new content, never half of it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["ensure_private_dir", "write_private_file"]


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700; tighten an existing one."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o777 != 0o700:
        path.chmod(0o700)


def write_private_file(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600.

    With ``exclusive`` the call fails (``FileExistsError``) if ``path`` already exists: key
    files are never overwritten.
    """
    ensure_private_dir(path.parent)
    if exclusive and path.exists():
        raise FileExistsError(str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if path appeared meanwhile
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
