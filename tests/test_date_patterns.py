"""Prepared date patterns say exactly what Babel's ``format_datetime`` says, in every locale and zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.dates import format_datetime

from portal.i18n import CATALOGUE_DIR, DatePattern, read_catalogue
from portal.resources import data_dir

CATALOGUES = data_dir("templates") / CATALOGUE_DIR
# The catalogues' own patterns, and fields they might use one day: numbered, narrow, stand-alone,
# and ones the tables leave to Babel (years, zones, weeks, fractions).
DATE_KEYS = ("format.clock", "format.clock_no_period", "format.period", "format.day", "format.short_day")
CATALOGUE_PATTERNS = sorted(
    {
        text
        for path in CATALOGUES.glob("*.po")
        for key, text in read_catalogue(path).items()
        if isinstance(text, str) and key in DATE_KEYS
    }
)
MORE_PATTERNS = [
    "hh:mm:ss a",
    "HH:mm",
    "K:mm a, k'h'",
    "EEEEE EEEEEE EE E e ee c cccc",
    "LLLL LLL L MM M",
    "d/M/yy",
    "yyyy-MM-dd'T'HH:mm",
    "EEEE, d 'de' MMMM 'o''clock'",
    "h:mm a zzzz",
    "h:mm a ZZZZ",
    "w W D F",
    "ss.SSS",
    "h B",
]
LOCALES = ["en", "en_GB", "es", "es_MX", "fr", "de", "fi", "ar", "zh_Hant", "ja"]
ZONES = [
    dt.UTC,
    ZoneInfo("America/Chicago"),
    ZoneInfo("Asia/Kolkata"),
    dt.timezone(dt.timedelta(hours=-9, minutes=-30)),
]


def moments() -> list[dt.datetime]:
    """Every hour of a day, minutes and seconds across their range, every month and weekday, in several zones."""
    start = dt.datetime(2028, 2, 25, 0, 0, 0)  # a leap year: the 29th of February is among the days
    naive = [start + dt.timedelta(hours=h, minutes=7 * h % 60, seconds=13 * h % 60) for h in range(24 * 10)]
    naive += [dt.datetime(2030, month, day, 12, 0) for month in range(1, 13) for day in (1, 15, 28)]
    return [moment.replace(tzinfo=zone) for moment in naive for zone in ZONES] + naive[:50]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_pattern_reads_as_babel_writes_it(locale: str) -> None:
    babel_locale = Locale.parse(locale)
    all_moments = moments()
    for pattern in CATALOGUE_PATTERNS + MORE_PATTERNS:
        prepared = DatePattern(pattern, babel_locale)
        for moment in all_moments:
            expected = format_datetime(moment, pattern, tzinfo=moment.tzinfo, locale=babel_locale)
            assert prepared.apply(moment) == expected, (pattern, locale, moment)


def test_the_catalogues_patterns_are_all_read_from_tables() -> None:
    """What the pages format every time needs no Babel call per page."""
    assert CATALOGUE_PATTERNS
    for pattern in CATALOGUE_PATTERNS:
        assert DatePattern(pattern, Locale.parse("en")).asked == [], pattern
