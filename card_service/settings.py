"""Process-wide settings: where permit keeps its files.

Everything persistent lives under :func:`permit_home` (see docs/architecture.md,
"Data directory").
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["permit_home"]


def permit_home() -> Path:
    """The data directory: ``$PERMIT_HOME``, else ``$XDG_DATA_HOME/permit``, else
    ``~/.local/share/permit``; created (with parents) with mode 0700 if missing."""
    env = os.environ.get("PERMIT_HOME")
    if env:
        home = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
        home = base / "permit"
    if not home.is_dir():
        home.mkdir(parents=True, mode=0o700, exist_ok=True)
        home.chmod(0o700)  # mkdir's mode is filtered by the umask
    return home
