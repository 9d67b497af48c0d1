"""The entry points reach the domain through the application layer only.

Every module under ``api/`` is parsed with :mod:`ast` (imports inside functions and under
``TYPE_CHECKING`` included) and may import, of the project, only ``card_service.office`` (and
its submodules), ``card_service.clients`` (the API-client contract the HTTP API and the
office share), ``permit_errors`` and ``permit_env``: never another ``card_service`` module,
nor ``keys``, ``reader_drivers`` or ``simulators`` directly.  Composition and domain decisions
belong to the office, where the HTTP API will find them too.

Exceptions, each with its reason:

* ``api/cli/sim.py`` runs the card simulator (``permit sim start``), which is no use case of
  an issuing office: it may import ``simulators``, and ``card_service.card.wire`` for the vpcd
  port the simulator listens on.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "api"

ALLOWED = ("card_service.office", "card_service.clients", "permit_errors", "permit_env")
FORBIDDEN = ("card_service", "keys", "reader_drivers", "simulators")
EXCEPTIONS: dict[str, tuple[str, ...]] = {
    "api/cli/sim.py": ("simulators", "card_service.card.wire"),
}


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module in FORBIDDEN:  # ``from card_service import office``: the module
                found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
            else:
                found.append((node.lineno, node.module))
    return found


def violations(path: Path, relative: str) -> list[str]:
    allowed = ALLOWED + EXCEPTIONS.get(relative, ())
    out = []
    for line, module in imported_modules(path):
        if _within(module, FORBIDDEN) and not _within(module, allowed):
            out.append(f"{relative}:{line}: imports {module}")
    return out


def api_modules() -> list[Path]:
    return sorted(API.rglob("*.py"))


def test_there_are_entry_point_modules() -> None:
    assert len(api_modules()) >= 5


@pytest.mark.parametrize("path", api_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_api_reaches_the_domain_through_the_office_only(path: Path) -> None:
    assert violations(path, str(path.relative_to(ROOT))) == []


def test_the_guard_catches_a_direct_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from card_service.office import Office\n"
        "from card_service import register\n"
        "def f():\n    import keys.pki\n"
        "    from reader_drivers.sim import SimReaderDriver\n",
        encoding="utf-8",
    )
    found = violations(bad, "api/cli/bad.py")
    assert found == [
        "api/cli/bad.py:2: imports card_service.register",
        "api/cli/bad.py:4: imports keys.pki",
        "api/cli/bad.py:5: imports reader_drivers.sim",
    ]
    # the simulator runner's exception is the simulator only
    assert violations(bad, "api/cli/sim.py") == [f.replace("bad", "sim") for f in found]
