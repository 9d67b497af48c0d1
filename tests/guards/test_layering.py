"""The layering of docs/architecture.md is a checked contract, not a picture.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and ``make lint`` runs
``lint-imports``; this test runs the same check inside the suite, and proves the check can
fail: on a copy of the tree with one upward import planted per contract, it must break and
name the import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "api",
    "card_service",
    "keys",
    "reader_drivers",
    "simulators",
    "permit_env",
    "permit_errors",
)
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(  # our own tool on our own tree
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_tree_keeps_every_layering_contract() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("keys/clock.py", "import card_service.record.verifier", "keys is a leaf"),
        ("api/cli/common.py", "import card_service.register.service", "application layer"),
        ("reader_drivers/base.py", "import card_service.card.session", "transport only"),
        ("card_service/card/apdu.py", "import card_service.workflows", "call only downward"),
        ("card_service/record/mso.py", "import card_service.register.views", "call only downward"),
        ("card_service/shared_state/model.py", "import card_service.office", "call only downward"),
        ("api/cli/common.py", "import card_service.shared_state", "application layer"),
        ("simulators/apdu.py", "import card_service.card.scp03", "wire constants"),
    ],
)
def test_a_planted_upward_import_breaks_its_contract(
    tree_copy: Path, module: str, planted: str, contract: str
) -> None:
    path = tree_copy / module
    original = path.read_text()
    path.write_text(original + f"\n{planted}  # planted by the test\n")
    try:
        done = _lint(tree_copy)
    finally:
        path.write_text(original)
    assert done.returncode != 0, done.stdout[-2000:]
    broken = [line for line in done.stdout.splitlines() if "BROKEN" in line]
    assert any(contract in line for line in broken), done.stdout[-3000:]
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in done.stdout
