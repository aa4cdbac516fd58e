"""What input the portal believes: the bounds that keep odd but well-formed values out.

A value that parses is not necessarily one every view can show: a year before 1000 does not
survive ``strftime``, ``0001-01-01T00:00:00+14:00`` overflows when turned into UTC, calendar
files carry 32-bit integers, and a lone surrogate cannot be encoded at all. Once stored, such a
value breaks the job's page for good (the newest stamp wins, so nothing repairs it). Refusing
it at the door with a 400 (CONTRACT §3) is the only place where that costs nothing.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import available_timezones

# No field-service job of this portal's lifetime happened before this; it also keeps every
# stamp far from datetime's year-1 edge, where moving to UTC overflows.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Calendar files (RFC 5545 integers, 32-bit Unix time in many calendar apps) end on
# 2038-01-19; a window the calendar file cannot carry is refused rather than stored.
LATEST = datetime(2038, 1, 1, tzinfo=UTC)
# CONTRACT §3: an event's own time more than this ahead of the portal's clock is refused;
# the slack covers a field system whose clock or time zone setting is off by up to a day.
FUTURE_SLACK = timedelta(hours=24)
MAX_JSON_DEPTH = 32  # CONTRACT §3; a real event nests 4 deep (envelope, data, job, customer)
# An IANA zone name: ASCII segments separated by "/" ("America/Argentina/Buenos_Aires",
# "Etc/GMT+5"); checked before zoneinfo, which would try to open a file of that name.
ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]{0,29}(/[A-Za-z0-9_+\-]{1,30}){0,2}")
RANGE_TEXT = f"between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"


def parse_time(raw: str) -> datetime:
    """An RFC 3339 / ISO 8601 time with an offset, inside the portal's plausible range.

    Raises ValueError with a message fit for a 400's ``detail``.
    """
    if not raw.isascii():  # fromisoformat takes some non-ASCII digits; a stamp is ASCII
        raise ValueError("not an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError("needs a UTC offset")
    if moment.year < EARLIEST.year - 1 or moment.year > LATEST.year:
        raise ValueError(f"must be {RANGE_TEXT}")  # before converting: near year 1 or 9999 it overflows
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"must be {RANGE_TEXT}")
    return moment


def is_time(value: object) -> bool:
    """The ``date-time`` format of the webhook schemas: plausible times only."""
    if not isinstance(value, str):
        return True
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def too_far_ahead(raw: str, now: datetime) -> bool:
    return parse_time(raw) > now + FUTURE_SLACK


@cache
def zone_names() -> frozenset[str]:
    """Every zone the installed tz database has; read once (it lists a directory tree)."""
    return frozenset(available_timezones())


def is_zone(value: object) -> bool:
    """An IANA name the tz database knows; the shape is checked before any lookup."""
    if not isinstance(value, str):
        return True
    return ZONE_NAME.fullmatch(value) is not None and value in zone_names()


def has_lone_surrogate(text: str) -> bool:
    """True for text that is not Unicode scalar values (JSON's ``\\ud800`` escapes make them)."""
    if text.isascii():  # most keys and values: no surrogate can hide in ASCII
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def implausible_json(value: Any) -> list[dict[str, str]]:
    """Problems of a parsed JSON value: too deep, a non-finite number, an integer wider than 64
    bits, text that is not Unicode.

    Walks iteratively, so hostile nesting cannot exhaust the stack here either.
    """
    found: list[tuple[tuple[str, ...], str]] = []  # where and what; a place is joined only when reported
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack and len(found) < MAX_PROBLEMS:
        item, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            found.append((path, f"nested deeper than {MAX_JSON_DEPTH} levels"))
        elif isinstance(item, float) and not math.isfinite(item):
            found.append((path, "must be a finite number"))
        elif type(item) is int and not INT64_MIN <= item <= UINT64_MAX:
            found.append((path, "an integer outside the 64-bit range"))
        elif isinstance(item, str) and has_lone_surrogate(item):
            found.append((path, "text contains an unpaired surrogate (not valid Unicode)"))
        elif isinstance(item, dict):
            for key, child in item.items():
                if has_lone_surrogate(key):
                    found.append((path, "a key contains an unpaired surrogate"))
                else:
                    stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(item))
    return [{"loc": ".".join(path), "msg": message} for path, message in found]


MAX_PROBLEMS = 20  # the walk stops early: a hostile body may hold millions of bad values
# Integers a stored document keeps exactly: the store's JSON reader (orjson) reads a wider one
# as a float, and most field systems' own JSON cannot hold one either.
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1


def non_finite(raw: str) -> float:
    """``parse_constant`` for json.loads: NaN and Infinity are not JSON numbers."""
    raise ValueError(f"{raw} is not a JSON number")


def ascii_score(raw: str, low: int, high: int) -> int | None:
    """A rating given as one ASCII digit in [low, high]; ``int()`` would also take "٣" or "３"."""
    text = raw.strip()
    if len(text) != 1 or not ("0" <= text <= "9"):
        return None
    score = ord(text) - ord("0")
    return score if low <= score <= high else None
