"""Times in words for pages, in the job's own time zone (the ISO strings already carry it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _parse(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


def clock(raw: str | None) -> str:
    """``9:05 AM``."""
    if not raw:
        return ""
    moment = _parse(raw)
    return moment.strftime("%I:%M %p").lstrip("0")


def day(raw: str | None) -> str:
    """``Tuesday, March 3``."""
    if not raw:
        return ""
    moment = _parse(raw)
    return f"{moment.strftime('%A, %B')} {moment.day}"


def span(window: dict[str, Any] | None) -> str:
    """``Tuesday, March 3, 9:00 AM - 11:00 AM``, or the two days when it spans midnight."""
    if not window:
        return ""
    start, end = window["start"], window["end"]
    if _parse(start).date() == _parse(end).date():
        return f"{day(start)}, {clock(start)} – {clock(end)}"
    return f"{day(start)}, {clock(start)} – {day(end)}, {clock(end)}"
