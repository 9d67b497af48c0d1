"""Client side of the simulator fleet's control socket (JSON lines; see fleet.py).

Kept apart from :mod:`simulators.fleet` so that ``permit sim list`` and friends
do not load the card simulator.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["FleetError", "control_request"]


class FleetError(Exception):
    """A control request that cannot be carried out (the message says why)."""


def control_request(path: Path, request: Mapping[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to a running fleet's control socket and return the reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(json.dumps(dict(request)).encode() + b"\n")
        with s.makefile("rb") as f:
            line = f.readline()
    if not line:
        raise FleetError("simulator closed the control connection")
    reply = json.loads(line)
    if not isinstance(reply, dict):
        raise FleetError("malformed reply from the simulator")
    return reply
