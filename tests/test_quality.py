"""One command runs every check: formatting, lint and types run as part of the test suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "mypy")],
    ],
    ids=["ruff-format", "ruff-check", "mypy"],
)
def test_static_checks_pass(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_test_modules_do_not_import_each_other() -> None:
    """Shared fixtures and helpers live in conftest.py, helpers.py or a *_support.py module."""
    tests = ROOT / "tests"
    found = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in tests.rglob("*.py")
        for line in path.read_text().splitlines()
        if line.lstrip().startswith(("from tests.", "import tests."))
        and any(part.startswith("test_") for part in line.split()[1].split("."))
    ]
    assert found == []
