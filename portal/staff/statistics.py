"""How the service is doing over days: the figures of ``/staff/api/stats`` (CONTRACT §7).

The store keeps counters per quarter hour as changes are written (``core/tallies.py``); a
report reads the quarter hours of the days asked for, in the staff member's time zone, and
sums them per local day. Each local day is found from its own midnight, so days that a
daylight-saving change makes 23 or 25 hours long are summed right.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from portal.core.tallies import TENTHS, bucket_of
from portal.runtime import Runtime
from portal.staff.attention import store_of

DEFAULT_DAYS = 30  # CONTRACT §7: the last 30 days unless asked otherwise
MAX_DAYS = 366  # a year at most per request: longer ranges are an export, not a page
CHANNELS = ("sms", "email")
TOP_ERRORS = 5  # error codes listed per channel, most frequent first
SHARE_DIGITS = 4  # a share like 0.8333: finer says nothing


class BadRange(ValueError):
    """``from``/``to`` are not dates, are reversed, or span more than ``MAX_DAYS``."""


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date
    zone: ZoneInfo

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def parse_range(raw_from: str | None, raw_to: str | None, zone: ZoneInfo, now: datetime) -> DayRange:
    """The days asked for (inclusive), defaulting to the last ``DEFAULT_DAYS`` ending today."""
    today = now.astimezone(zone).date()
    last = _day(raw_to, "to") if raw_to else today
    first = _day(raw_from, "from") if raw_from else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise BadRange("'from' must not be after 'to'")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRange(f"ask for at most {MAX_DAYS} days at a time")
    return DayRange(first, last, zone)


def _day(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw) if len(raw) == len("YYYY-MM-DD") else _refuse(name)
    except ValueError:
        return _refuse(name)


def _refuse(name: str) -> date:
    raise BadRange(f"'{name}' must be a date as YYYY-MM-DD")


def day_starts(days: DayRange) -> list[int]:
    """The first quarter hour of each local day, and one past the last day's end."""
    edges = [*days.days, days.last + timedelta(days=1)]
    return [bucket_of(datetime.combine(day, time(0), days.zone)) for day in edges]


def summarise(rows: list[tuple[int, str, float]], days: DayRange) -> dict[str, Any]:
    """The report from (day index, counter, total) rows. Pure."""
    per_day: list[dict[str, float]] = [{} for _ in days.days]
    totals: dict[str, float] = {}
    for index, name, amount in rows:
        if not 0 <= index < len(per_day):
            continue
        per_day[index][name] = per_day[index].get(name, 0) + amount
        totals[name] = totals.get(name, 0) + amount
    return {
        "from": days.first.isoformat(),
        "to": days.last.isoformat(),
        "timezone": days.zone.key,
        "jobs": _count(totals, "jobs"),
        "completed": _count(totals, "completed"),
        "cancelled": _count(totals, "cancelled"),
        "reschedules": _count(totals, "reschedules"),
        "ratings": {
            "count": _count(totals, "ratings"),
            "average": _average(totals),
            "distribution": {str(score): _count(totals, f"rating.{score}") for score in range(1, 6)},
        },
        "eta": {
            "arrivals": _count(totals, "arrivals"),
            "within_range": _share(totals),
            "median_error_minutes": _median_error(totals),
        },
        "messages": {channel: _channel(totals, channel) for channel in CHANNELS},
        "by_day": [_day_row(day, figures) for day, figures in zip(days.days, per_day, strict=True)],
    }


def _count(figures: dict[str, float], name: str) -> int:
    return round(figures.get(name, 0))


def _average(figures: dict[str, float]) -> float | None:
    count = _count(figures, "ratings")
    return round(figures.get("rating_sum", 0) / count, 2) if count else None


def _share(figures: dict[str, float]) -> float | None:
    arrivals = _count(figures, "arrivals")
    return round(_count(figures, "eta_within") / arrivals, SHARE_DIGITS) if arrivals else None


def _median_error(figures: dict[str, float]) -> float | None:
    """The median of the error histogram (tenths of a minute), in minutes."""
    histogram = sorted(
        (int(name.removeprefix("eta_error.")), round(amount))
        for name, amount in figures.items()
        if name.startswith("eta_error.") and round(amount) > 0
    )
    count = sum(n for _, n in histogram)
    if not count:
        return None
    middle = [(count - 1) // 2, count // 2]  # the one middle value, or the two to average
    found: list[int] = []
    seen = 0
    for value, n in histogram:
        while len(found) < len(middle) and middle[len(found)] < seen + n:
            found.append(value)
        seen += n
    return round(sum(found) / len(found) / TENTHS, 2)


def _channel(figures: dict[str, float], channel: str) -> dict[str, Any]:
    prefix = f"{channel}.error."
    errors = [(name.removeprefix(prefix), round(n)) for name, n in figures.items() if name.startswith(prefix)]
    errors = sorted((e for e in errors if e[1] > 0), key=lambda e: (-e[1], e[0]))[:TOP_ERRORS]
    return {
        "sent": _count(figures, f"{channel}.sent"),
        "delivered": _count(figures, f"{channel}.delivered"),
        "failed": _count(figures, f"{channel}.failed"),
        "top_errors": [{"code": code, "count": n} for code, n in errors],
    }


def _day_row(day: date, figures: dict[str, float]) -> dict[str, Any]:
    return {
        "date": day.isoformat(),
        "jobs": _count(figures, "jobs"),
        "completed": _count(figures, "completed"),
        "cancelled": _count(figures, "cancelled"),
        "reschedules": _count(figures, "reschedules"),
        "ratings": _count(figures, "ratings"),
        "rating_average": _average(figures),
        "arrivals": _count(figures, "arrivals"),
        "eta_within_range": _share(figures),
    }


async def report(portal: Runtime, days: DayRange) -> dict[str, Any]:
    return summarise(await store_of(portal).tallies(day_starts(days)), days)


CSV_COLUMNS = (
    "date",
    "jobs",
    "completed",
    "cancelled",
    "reschedules",
    "ratings",
    "rating_average",
    "arrivals",
    "eta_within_range",
)


def _cell(text: str) -> str:
    """A provider's text made inert for spreadsheets, which run cells starting with = + - @."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def as_csv(figures: dict[str, Any]) -> str:
    """The figures by day, then the totals of the range, as CSV (one header row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in figures["by_day"]:
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    ratings, eta = figures["ratings"], figures["eta"]
    total = {
        "date": f"{figures['from']}..{figures['to']}",
        **{c: figures[c] for c in ("jobs", "completed", "cancelled", "reschedules")},
        "ratings": ratings["count"],
        "rating_average": ratings["average"],
        "arrivals": eta["arrivals"],
        "eta_within_range": eta["within_range"],
    }
    writer.writerow(["" if total[c] is None else total[c] for c in CSV_COLUMNS])
    writer.writerow([])
    writer.writerow(["channel", "sent", "delivered", "failed", "top_errors"])
    for channel, counts in figures["messages"].items():
        errors = " ".join(f"{_cell(e['code'])} x{e['count']}" for e in counts["top_errors"])
        writer.writerow([channel, counts["sent"], counts["delivered"], counts["failed"], errors])
    return out.getvalue()
