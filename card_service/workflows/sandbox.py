"""A throw-away issuing station: the ephemeral office's parts.

Kept under this name for the tests, benchmarks and demonstrations that build one; the one
composition root of the ephemeral case is :mod:`card_service.office.ephemeral`.
"""

from __future__ import annotations

from card_service.office.ephemeral import SANDBOX_AUTHORITY, Sandbox

__all__ = ["SANDBOX_AUTHORITY", "Sandbox"]
