"""The appointment as .ics: parsed back with icalendar, stable UID across reschedules."""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar

from portal.core.jobs import FieldEvent, Job, apply_event
from portal.customer.ics import appointment_ics

NOW = dt.datetime(2030, 3, 1, tzinfo=dt.UTC)
LINK = "https://track.example.com/t/abc.def"


def job_with_window(start: str, end: str, seconds: int = 0, job: Job | None = None) -> Job:
    data = {
        "job": {
            "id": "WO-1",
            "service": "Boiler service",
            "window": {"start": start, "end": end},
            "address": {"text": "1 Main St, Springfield"},
        }
    }
    return apply_event(job, FieldEvent(f"w{seconds}", "job.updated", NOW + dt.timedelta(seconds=seconds), data))


def parse(raw: bytes | None) -> Calendar:
    assert raw is not None
    return Calendar.from_ical(raw)


def test_the_appointment_parses_back() -> None:
    job = job_with_window("2030-03-03T09:00:00-06:00", "2030-03-03T11:00:00-06:00")
    (event,) = parse(appointment_ics(job, LINK, "https://track.example.com", "Acme Plumbing", NOW)).walk("VEVENT")
    assert event["dtstart"].dt == dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)
    assert event["dtend"].dt == dt.datetime(2030, 3, 3, 17, 0, tzinfo=dt.UTC)
    assert "Boiler service" in str(event["summary"]) and "Acme Plumbing" in str(event["summary"])
    assert "location" not in event  # like the page: a forwarded link never gives the street address
    assert b"Main St" not in appointment_ics(job, LINK, "https://track.example.com", "Acme Plumbing", NOW)
    assert LINK in str(event["description"])


def test_a_reschedule_keeps_the_uid_and_raises_the_sequence() -> None:
    first = job_with_window("2030-03-03T09:00:00-06:00", "2030-03-03T11:00:00-06:00")
    moved = job_with_window("2030-03-04T13:00:00-06:00", "2030-03-04T15:00:00-06:00", 60, first)
    (a,) = parse(appointment_ics(first, LINK, "https://track.example.com", "Acme", NOW)).walk("VEVENT")
    (b,) = parse(appointment_ics(moved, LINK, "https://track.example.com", "Acme", NOW)).walk("VEVENT")
    assert a["uid"] == b["uid"]
    assert int(b["sequence"]) > int(a["sequence"])
    assert "WO-1" not in str(a["uid"])


def test_no_window_no_calendar() -> None:
    assert appointment_ics(Job(id="X"), LINK, "https://t.example.com", "Acme", NOW) is None
