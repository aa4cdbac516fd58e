"""A catalogue's date and time patterns, prepared once per locale instead of on every page.

Babel formats a pattern field by field, looking up the locale's names for each field of each
call: a tracking page formats a dozen times and dates, and that lookup was a third of its
rendering. Most fields depend on one part of the moment only (``h`` and ``a`` on the hour,
``EEEE`` on the weekday, ``MMMM`` on the month), so for those Babel itself is asked once for
every value of that part and the answers are kept in a table; a moment is then formatted by
reading its parts from the tables. Fields that depend on more (years, time zones, weeks) are
still asked of Babel each time. The text is Babel's either way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from babel import Locale
from babel.dates import DateTimeFormat, parse_pattern, tokenize_pattern

# A Monday: weekday samples are this date plus 0..6 days.
SAMPLE_MONDAY = datetime(2001, 1, 1)

# The part of the moment each field letter reads, with every value that part can take.
Part = tuple[Callable[[datetime], int], Callable[[int], datetime], range]
HOUR: Part = (lambda d: d.hour, lambda v: SAMPLE_MONDAY.replace(hour=v), range(24))
MINUTE: Part = (lambda d: d.minute, lambda v: SAMPLE_MONDAY.replace(minute=v), range(60))
SECOND: Part = (lambda d: d.second, lambda v: SAMPLE_MONDAY.replace(second=v), range(60))
DAY: Part = (lambda d: d.day, lambda v: SAMPLE_MONDAY.replace(day=v), range(1, 32))
MONTH: Part = (lambda d: d.month, lambda v: SAMPLE_MONDAY.replace(month=v), range(1, 13))
WEEKDAY: Part = (lambda d: d.weekday(), lambda v: SAMPLE_MONDAY.replace(day=1 + v), range(7))
PARTS: dict[str, Part] = {
    "a": HOUR,  # am or pm
    "h": HOUR,
    "H": HOUR,
    "K": HOUR,
    "k": HOUR,
    "m": MINUTE,
    "s": SECOND,
    "d": DAY,
    "M": MONTH,
    "L": MONTH,
    "E": WEEKDAY,
    "e": WEEKDAY,  # numbered from the locale's first day of the week: still the weekday alone
    "c": WEEKDAY,
}


class DatePattern:
    """One pattern (``h:mm a``) in one locale: ``apply(moment)`` is ``format_datetime``'s text."""

    def __init__(self, pattern: str, locale: Locale) -> None:
        self.locale = locale
        # ``%(h)s:%(mm)s %(a)s``, as Babel applies it (its annotation says DateTimeFormat; it is this text)
        self.format = str(parse_pattern(pattern).format)
        self.tabled: list[tuple[str, Callable[[datetime], int], dict[int, str]]] = []
        self.asked: list[str] = []  # fields Babel formats on every call
        for kind, value in tokenize_pattern(pattern):
            if kind != "field" or not isinstance(value, tuple):
                continue
            char, count = value
            name = char * count
            part = PARTS.get(char)
            if part is None:
                self.asked.append(name)
                continue
            read, sample, values = part
            self.tabled.append((name, read, {v: DateTimeFormat(sample(v), locale)[name] for v in values}))

    def apply(self, moment: datetime) -> str:
        """The pattern for ``moment`` in its own time zone (as ``format_datetime(..., tzinfo=moment.tzinfo)``)."""
        fields = {name: table[read(moment)] for name, read, table in self.tabled}
        if self.asked:
            babel = DateTimeFormat(moment, self.locale)
            for name in self.asked:
                fields[name] = babel[name]
        return self.format % fields
