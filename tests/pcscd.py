"""Private pcscd for the test suite (see simulators/pcscd_private.py for how it works).

``start_private_pcscd`` skips the calling test with an explicit reason only when
the machine lacks pcscd, libifdvpcd.so, unshare or root; any other failure to
start is a test error, not a skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.pcscd_private import PrivatePcscd, missing_requirements


def start_private_pcscd(directory: Path, slots: int = 2) -> PrivatePcscd:
    missing = missing_requirements()
    if missing:
        pytest.skip("private pcscd not possible here: missing " + ", ".join(missing))
    return PrivatePcscd(directory, slots=slots).start()
