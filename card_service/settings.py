"""Process-wide settings: where permit keeps its files.

Everything persistent lives under :func:`permit_home` (see docs/architecture.md,
"Data directory").  The resolution and its checks live in :mod:`keys.home` so that the key
layer, which imports nothing from ``card_service``, uses the very same rule.
"""

from __future__ import annotations

from keys.home import InsecureDataDirectory, permit_home

__all__ = ["InsecureDataDirectory", "permit_home"]
