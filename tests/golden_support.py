"""Golden files of rendered messages: compared exactly, re-recorded with ``UPDATE_GOLDEN=1``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "notify" / "golden" / "messages"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
# Realistic and long: a 20-character company name, as in the messages customers get.
COMPANY = "Acme Plumbing & Heat"


def check_golden(path: Path, text: str) -> None:
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"no golden file {path.relative_to(GOLDEN.parent.parent)}; record it with UPDATE_GOLDEN=1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs from its golden file (UPDATE_GOLDEN=1 re-records)"
