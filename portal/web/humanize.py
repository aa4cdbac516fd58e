"""Times in words for pages, in the job's own time zone (the ISO strings already carry it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from portal.clock import utc_now

METRES_PER_MILE = 1609.344
KM = 1000  # below a kilometre, distances read better in metres
METRE_STEP = 10  # GPS is not better than this: "850 m", not "847 m"
MINUTE = 60


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


def distance(metres: float | None) -> str:
    """``850 m`` or ``3.2 km (2.0 mi)``: both units, since customers read either."""
    if metres is None:
        return ""
    if metres < KM:
        return f"{round(metres / METRE_STEP) * METRE_STEP} m"
    return f"{metres / KM:.1f} km ({metres / METRES_PER_MILE:.1f} mi)"


def clock_range(span: dict[str, Any] | None) -> str:
    """``10:40 AM – 10:55 AM``."""
    if not span:
        return ""
    return f"{clock(span['start'])} – {clock(span['end'])}"


def ago(raw: str | None) -> str:
    """``20 s ago`` or ``4 min ago``, from now (the page was rendered just now)."""
    if not raw:
        return ""
    seconds = max(0, round((utc_now() - _parse(raw)).total_seconds()))
    return f"{seconds} s ago" if seconds < MINUTE else f"{seconds // MINUTE} min ago"
