"""Writing files safely: private modes, atomic replacement, never through a link.

Every directory permit creates is 0700 and every file it writes 0600 (whatever the umask),
except files written with :func:`write_public_file`, which are meant to be shared (the trust
list export, 0644 by deliberate choice).

A write never follows a link and never writes into something that is not a regular file:

* the parent directory is opened with ``O_NOFOLLOW | O_DIRECTORY`` and everything after is done
  relative to that descriptor, so swapping the directory for a link mid-way changes nothing;
* an existing entry at the target name that is not a regular file (a symbolic link, dangling
  or not, a fifo, a device, a socket, a directory) is refused with :class:`UnsafePathError`;
* the data goes to a new temporary file (``O_CREAT | O_EXCL | O_NOFOLLOW``, its mode set with
  ``fchmod``), is fsynced, then renamed over the target name.  ``rename`` replaces the
  directory entry itself: a link planted between the check and the rename is replaced, its
  target is untouched.  A reader sees the old or the new content, never half of it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from permit_errors import ErrorKind, PermitError

__all__ = [
    "PRIVATE_FILE_MODE",
    "PUBLIC_FILE_MODE",
    "UnsafePathError",
    "check_output_path",
    "ensure_output_dir",
    "ensure_private_dir",
    "read_regular_file",
    "write_private_file",
    "write_public_file",
]

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
#: Mode of files meant to be handed to others (the exported trust list): public material.
PUBLIC_FILE_MODE = 0o644


class UnsafePathError(PermitError, OSError):
    """A path permit refuses to write to (a link, a fifo, a device, a directory, ...).

    An ``OSError``, so every caller that reports file-system failures as one line already
    reports this one; ``strerror`` says what is wrong and ``filename`` names the path.
    """

    code = "unsafe_path"
    kind = ErrorKind.REFUSED

    def __init__(self, path: Path | str, what: str, *, action: str = "write") -> None:
        super().__init__(errno.EEXIST, f"refusing to {action}: {what}", str(path))
        self.what = what
        self.action = action

    def __str__(self) -> str:
        return f"refusing to {self.action} {self.filename}: {self.what}"


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "it is a symbolic link"
    if stat.S_ISDIR(mode):
        return "it is a directory"
    if stat.S_ISFIFO(mode):
        return "it is a fifo"
    if stat.S_ISSOCK(mode):
        return "it is a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device"
    return "it is not a regular file"


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents, each with mode 0700; tighten an existing
    ``path`` to 0700.

    Only directories created here and ``path`` itself are changed; existing parents are left
    as they are.  An existing ``path`` that is not a directory (a symbolic link included:
    nothing is created or re-moded through a link) is an ``UnsafePathError``.
    """
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR_MODE)
        except FileExistsError:  # created meanwhile by another process: checked below
            pass
        else:
            os.chmod(directory, PRIVATE_DIR_MODE)  # the umask filtered it
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(path, _kind(st.st_mode).replace("it is", "the directory is"))
    if stat.S_IMODE(st.st_mode) != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)


def ensure_output_dir(path: Path) -> None:
    """A directory the user named for output: created (missing parents too) with mode 0700
    if absent; an existing one is used as it is (it belongs to the user) but must be a real
    directory, not a link or anything else (``UnsafePathError``)."""
    if not os.path.lexists(path):
        ensure_private_dir(path)
        return
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise UnsafePathError(path, _kind(mode).replace("it is", "the directory is"))


def check_output_path(path: Path) -> None:
    """Refuse now (``UnsafePathError``) what a write to ``path`` would refuse later: lets a
    command that writes several files check them all before writing the first."""
    mode = os.lstat(path.parent).st_mode
    if not stat.S_ISDIR(mode):
        raise UnsafePathError(path.parent, _kind(mode).replace("it is", "the directory is"))
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise UnsafePathError(path, _kind(mode))


def _open_dir(directory: Path) -> int:
    """A descriptor of ``directory``, refusing a symbolic link as its last component."""
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            try:
                mode = os.lstat(directory).st_mode
            except OSError:
                raise exc from None
            what = _kind(mode).replace("it is", "the directory is")
            raise UnsafePathError(directory, what) from None
        raise


def _write(path: Path, data: bytes, mode: int, *, exclusive: bool) -> None:
    dir_fd = _open_dir(path.parent)
    try:
        name = path.name
        if not name or name in (".", ".."):
            raise UnsafePathError(path, "not a file name")
        try:
            existing = os.lstat(name, dir_fd=dir_fd).st_mode
        except FileNotFoundError:
            pass
        else:
            if exclusive:
                raise FileExistsError(errno.EEXIST, "file exists", str(path))
            if not stat.S_ISREG(existing):
                raise UnsafePathError(path, _kind(existing))
        tmp = f".{name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, PRIVATE_FILE_MODE, dir_fd=dir_fd)
        try:
            try:
                os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if exclusive:
                # fails if ``name`` appeared meanwhile, whatever it is: never overwrites
                os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                os.unlink(tmp, dir_fd=dir_fd)
            else:
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_private_file(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600, its directory made 0700.

    With ``exclusive`` the call fails (``FileExistsError``) if ``path`` already exists: key
    files are never overwritten.  Refuses (:class:`UnsafePathError`) a ``path`` that is a
    link, fifo, device or directory, and a parent directory that is a link.
    """
    ensure_private_dir(path.parent)
    _write(path, data, PRIVATE_FILE_MODE, exclusive=exclusive)


def write_public_file(
    path: Path, data: bytes, *, mode: int = PRIVATE_FILE_MODE, exclusive: bool = False
) -> None:
    """Atomically write ``data`` to ``path``, a file the user chose or that is meant to be
    shared, with the same link rules as :func:`write_private_file`.

    The mode is 0600 unless the caller deliberately passes another one (the trust list uses
    :data:`PUBLIC_FILE_MODE`); group or other *write* bits are never allowed.  The parent
    directory must exist (it is not created or re-moded: it belongs to the user).
    """
    if mode & ~0o644:
        raise ValueError(f"refusing file mode {mode:o} (at most 0644)")
    _write(path, data, mode, exclusive=exclusive)


#: Largest file :func:`read_regular_file` reads unless told otherwise (a trust-list member:
#: a certificate, a CRL or the manifest is a few KiB; a CRL of many revocations stays far below).
READ_LIMIT = 4 * 1024 * 1024


def read_regular_file(path: Path, limit: int = READ_LIMIT) -> bytes:
    """The content of the regular file ``path``, at most ``limit`` bytes.

    The read cannot hang or exhaust memory whatever sits at the name: the final component is
    opened with ``O_NOFOLLOW | O_NONBLOCK`` (a symbolic link is refused, a FIFO does not
    block), anything but a regular file (FIFO, device such as ``/dev/zero``, directory) is
    refused, and at most ``limit + 1`` bytes are read so a larger or growing file is refused.
    Failures are ``OSError`` (:class:`UnsafePathError` for a wrong kind of file or size).
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(path, "it is a symbolic link", action="read") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafePathError(path, _kind(mode), action="read")
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 64 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UnsafePathError(path, f"it is larger than {limit} bytes", action="read")
    return data
