"""The rooms' import arrows: ``lint-imports`` passes on the tree and fails on an import that points the wrong way.

Each case copies the project's packages and pyproject.toml into a temporary folder, adds one module with a
forbidden import, and runs the real ``lint-imports`` there (no cache), as ``make test`` does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
ROOMS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages' Python files and the import-linter configuration."""
    copy = tmp_path_factory.mktemp("tree")
    for room in ROOMS:
        shutil.copytree(ROOT / room, copy / room,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "repository", "schemas"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120,
                          check=False, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "COLUMNS": "250"})


def test_the_rooms_keep_their_arrows(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "source", "contract", "arrow"), [
    ("contracts/upward.py", "from tools.stack import LocalStack\n", "Rooms point down",
     "contracts.upward -> tools.stack"),
    ("model/upward.py", "import services.tagger.settings\n", "Rooms point down",
     "model.upward -> services.tagger.settings"),
    ("monitoring/sideways.py", "import rollout\n", "Rooms point down", "monitoring.sideways -> rollout"),
    ("services/tritonhost/sideways.py", "from services.tagger import settings\n",
     "Each running process is its own package", "services.tritonhost.sideways -> services.tagger"),
])
def test_an_import_against_the_arrows_fails_lint_imports(tree: Path, module: str, source: str, contract: str,
                                                         arrow: str) -> None:
    path = tree / module
    path.write_text(source)
    try:
        result = _lint(tree)
    finally:
        path.unlink()
    assert result.returncode == 1, result.stdout + result.stderr
    broken = next(line for line in result.stdout.splitlines() if line.startswith(contract))
    assert broken.rstrip().endswith("BROKEN"), broken
    assert arrow in result.stdout, result.stdout
