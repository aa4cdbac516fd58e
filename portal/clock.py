"""The one place the portal reads the wall clock.

``portal/core/`` never reads it: its decisions take ``now`` as an argument, so they are
tested at any moment. Services take a ``Clock`` where a test needs to choose the time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from portal.core.jobs import iso_utc

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    """The current time as ``iso_utc`` writes it: how stores stamp their rows."""
    return iso_utc(utc_now())
