"""The data directory ``$PERMIT_HOME``: where it is, and that it is private.

It lives in ``keys/`` (the leaf library) so that the key layer can find its folder without
importing ``card_service``; :mod:`card_service.settings` re-exports :func:`permit_home`.

The data directory holds the register (applicants' personal data), the key store and the
simulated cards.  A missing one is created, with every missing parent, mode 0700.  An existing
one must be a directory owned by the user running permit with no group or other permission
bits; anything else is refused with :class:`InsecureDataDirectory`, a one-line error that names
the fix.  Nothing is loosened or silently tightened: a directory someone else could read may
already have leaked, and the operator should know.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError
from .fsutil import ensure_private_dir

__all__ = ["InsecureDataDirectory", "check_private_home", "home_path", "permit_home"]


class InsecureDataDirectory(ConfigError):
    """The data directory is not private to the user (mode, owner or file type)."""


def home_path(env: Mapping[str, str] | None = None) -> Path:
    """``$PERMIT_HOME``, else ``$XDG_DATA_HOME/permit``, else ``~/.local/share/permit``
    (neither checked nor created)."""
    env = os.environ if env is None else env
    home = env.get("PERMIT_HOME")
    if home:
        return Path(home).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "permit"


def check_private_home(home: Path) -> None:
    """Refuse an existing ``home`` that is not a private directory of this user.

    A symbolic link to a directory is accepted (operators move data to another disk); the
    directory it points to is what is checked.
    """
    try:
        st = home.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InsecureDataDirectory(
            f"data directory {home} cannot be examined: {exc.strerror}"
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise InsecureDataDirectory(f"data directory {home} exists and is not a directory")
    uid = os.geteuid()
    if st.st_uid != uid:
        raise InsecureDataDirectory(
            f"data directory {home} belongs to uid {st.st_uid}, not to you (uid {uid}): "
            f"run permit as its owner or 'chown {uid} {home}'"
        )
    if st.st_mode & 0o077:
        raise InsecureDataDirectory(
            f"data directory {home} is mode {stat.S_IMODE(st.st_mode):04o}, readable or "
            f"writable by others: run 'chmod 700 {home}'"
        )


def permit_home(env: Mapping[str, str] | None = None, *, create: bool = True) -> Path:
    """The data directory (see :func:`home_path`), checked to be private; created with mode
    0700 (missing parents too) if it does not exist and ``create`` is true."""
    home = home_path(env)
    check_private_home(home)
    if create and not home.is_dir():
        ensure_private_dir(home)
    return home
