"""card_service/record is domain code: it may use the card wire constants and keys only."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

from card_service.record import Verdict

from .conftest import NOW, SIGNED, World

PACKAGE = Path(__file__).resolve().parents[2] / "card_service" / "record"
FORBIDDEN = ("simulators", "reader_drivers", "api", "tests")


def test_record_imports_no_lower_transport_or_upper_layers() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, (path.name, name)
                if name.startswith("card_service.card"):
                    assert name == "card_service.card.wire", (path.name, name)


def test_small_clock_skew_is_tolerated(world: World) -> None:
    verifier = world.verifier(SIGNED - dt.timedelta(hours=3))  # CRL issued before both
    behind = SIGNED - dt.timedelta(minutes=2)
    assert verifier.verify(world.record, now=behind).verdict is Verdict.VALID
    far_behind = SIGNED - dt.timedelta(hours=2)
    result = verifier.verify(world.record, now=far_behind)
    assert result.verdict is Verdict.FORGED
    assert "signer_not_valid_at_signing" in {r.code for r in result.reasons}
    assert world.verifier().trust.roots  # read-only property
    assert NOW > SIGNED
