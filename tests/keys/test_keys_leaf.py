"""``keys/`` is a leaf library: no module of it imports ``card_service``, ``api`` or
``simulators`` (docs/architecture.md).  Parsed with ``ast``, so an import hidden inside a
function or under ``TYPE_CHECKING`` counts too; independent of import-linter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KEYS = Path(__file__).resolve().parents[2] / "keys"
FORBIDDEN = ("card_service", "api", "simulators")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute module an ``import`` or ``from ... import`` of ``path`` names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


MODULES = sorted(KEYS.rglob("*.py"))


def test_the_key_library_has_modules() -> None:
    assert len(MODULES) > 10
    assert KEYS / "pki.py" in MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(KEYS)))
def test_keys_module_imports_nothing_above_it(path: Path) -> None:
    bad = [f"{path.name}:{line} imports {m}" for line, m in _imports(path) if _forbidden(m)]
    assert not bad, "keys/ must stay a leaf library: " + "; ".join(bad)


def test_the_check_sees_every_import_form(tmp_path: Path) -> None:
    """The check itself: plain, from, nested and TYPE_CHECKING imports are all found."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import api.cli\n"
        "from card_service.card import scp03\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import simulators\n"
        "def f():\n    from card_service import settings\n"
        "from . import store\nimport apiary\n"
    )
    hits = sorted(m for _, m in _imports(sample) if _forbidden(m))
    assert hits == ["api.cli", "card_service", "card_service.card", "simulators"]


def test_the_simulated_card_imports_no_key_library_code() -> None:
    """The simulator is the independent card side (its own SCP03, from the spec and
    ``card_service/card/wire.py``): no simulator module imports ``keys`` itself.  (The wire
    module re-exports the SCP03 derivation constants, which the key library defines once.)"""
    sim = KEYS.parent / "simulators"
    hits = sorted(
        {
            m
            for path in sim.rglob("*.py")
            for _, m in _imports(path)
            if m == "keys" or m.startswith("keys.")
        }
    )
    assert hits == []
