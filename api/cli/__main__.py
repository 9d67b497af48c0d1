"""``python -m api.cli``: the same as the ``permit`` console script."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
