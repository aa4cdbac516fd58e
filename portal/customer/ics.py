"""The appointment as an iCalendar event, for ``GET /t/{token}/calendar.ics``.

The UID is derived from the job, never from the link, so a file downloaded after a
reschedule (or after the link was revoked and re-sent) updates the same calendar entry; the
SEQUENCE grows with each change of the window so calendars take the newer file.

The file carries no street address (no LOCATION), like the page: anyone holding the link can
download it, links get forwarded and shown on lock screens, and a file, once saved, outlives
the link. The customer knows where they live; the description links back to the page.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import urlsplit

from icalendar import Calendar, Event

from portal.core.jobs import Job, parse_iso

PRODUCT_ID = "-//fieldservice-portal//tracking//EN"


def event_uid(job: Job, public_url: str) -> str:
    digest = hashlib.sha256(job.id.encode()).hexdigest()[:32]
    return f"{digest}@{urlsplit(public_url).hostname or 'portal'}"


def appointment_ics(job: Job, link: str, public_url: str, company: str, now: datetime) -> bytes | None:
    """The .ics file, or None when the job has no appointment window yet."""
    window = job.values.get("window")
    if not window:
        return None
    stamp = job.stamps.get("window")
    sequence = int(parse_iso(stamp[0]).timestamp()) if stamp else 0
    event = Event()
    event.add("uid", event_uid(job, public_url))
    event.add("sequence", sequence)
    event.add("dtstamp", now)
    event.add("dtstart", parse_iso(window["start"]).astimezone(UTC))  # UTC: fixed offsets have no TZID
    event.add("dtend", parse_iso(window["end"]).astimezone(UTC))
    service = job.values.get("service") or "Service visit"
    event.add("summary", f"{service} ({company})")
    event.add("description", f"Follow your visit: {link}")
    event.add("url", link)
    event.add("status", "CANCELLED" if job.status == "cancelled" else "CONFIRMED")
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(event)
    return bytes(calendar.to_ical())
