"""Where the packaged data lives: beside the package in a wheel, at the top of a checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """``templates``, ``static`` or ``webhooks``: installed copy first, checkout second."""
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the portal's {name}/ directory is missing from this installation")
