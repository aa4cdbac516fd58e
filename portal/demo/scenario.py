"""What the demo's simulated field system does: four jobs, and what happens to them when.

Pure data and geometry: the simulator (``simulator.py``) turns these steps into real signed
webhooks. Times are offsets from the start of the demo, so a demo started at any hour shows
the same story: one visit tomorrow, one booked for today, one whose technician drives to
the customer and arrives, one finished and waiting for a rating.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The demo's streets are Chicago's; its clock is the machine's when it is daytime there, so
# "booked for today" is not a visit at 3 AM. Else the first of these where it is daytime now:
# their offsets (-10 to +9 hours) are never more than 6 hours apart around the clock, so one always is.
TIMEZONE = "America/Chicago"
DAYTIME_ZONES = (TIMEZONE, "America/New_York", "Europe/London", "Asia/Kolkata", "Asia/Tokyo", "Pacific/Honolulu")
# "Now" between these puts every demo window (from 3 hours before now to 2.5 after) in working hours.
DAYTIME = (time(10), time(16))
LOCALTIME = Path("/etc/localtime")  # a link into the zoneinfo database on Linux and macOS
PING_SECONDS = 3.0  # a real tracker reports every few seconds while the van moves
DRIVE_SPEED_MPS = 13.0  # about 47 km/h: city arterials, so the ETA the page shows is believable
ON_SITE_SECONDS = 75.0  # how long the driven-to visit lasts before it is completed
SECOND_DRIVE_AT = 170.0  # the dispatched job's technician sets off a few minutes in
EARTH_RADIUS_M = 6_371_000.0
JOB_IDS = ("DEMO-101", "DEMO-102", "DEMO-103", "DEMO-104")  # the jobs the demo phone shows


@dataclass(frozen=True)
class DemoJob:
    """One demo job: its id, what the demo phone shows of it, and its ``JOB`` payload."""

    id: str
    story: str
    job: dict[str, Any]


@dataclass(frozen=True)
class Step:
    """One webhook: ``at`` seconds after the start, of ``type`` with ``data``."""

    at: float
    type: str
    data: dict[str, Any]
    note: str = ""


@dataclass(frozen=True)
class Scenario:
    jobs: list[DemoJob]
    steps: list[Step] = field(default_factory=list)
    timezone: str = TIMEZONE  # where the visits are: their windows and the demo staff account's clock

    def job_ids(self) -> list[str]:
        return [j.id for j in self.jobs]


Point = tuple[float, float]

# Routes along Chicago's street grid (lat, lon): depot to the customer's door, turning at corners.
DRIVE_ROUTE: list[Point] = [(41.8745, -87.6467), (41.8787, -87.6467), (41.8787, -87.6574), (41.8868, -87.6574)]
DRIVE_ADDRESS = {"text": "1200 W Fulton Market, Chicago, IL", "lat": 41.8868, "lon": -87.6574}
SECOND_ROUTE: list[Point] = [(41.9100, -87.6480), (41.9100, -87.6345), (41.9027, -87.6345)]
SECOND_ADDRESS = {"text": "1550 N Wells St, Chicago, IL", "lat": 41.9027, "lon": -87.6345}


def metres(a: Point, b: Point) -> float:
    """Great-circle distance between two points."""
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def bearing(a: Point, b: Point) -> float:
    """Compass heading from ``a`` to ``b``, in degrees."""
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in (*a, *b))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return (math.degrees(math.atan2(y, x)) + 360) % 360


def along(route: list[Point], step_m: float) -> list[tuple[Point, float]]:
    """Points every ``step_m`` metres along ``route`` (with the heading there), ending at its end."""
    found: list[tuple[Point, float]] = []
    carried = 0.0
    for a, b in itertools.pairwise(route):
        leg = metres(a, b)
        heading = bearing(a, b)
        walked = carried
        while walked < leg:
            f = walked / leg
            found.append(((a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f), heading))
            walked += step_m
        carried = walked - leg
    found.append((route[-1], bearing(route[-2], route[-1])))
    return found


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _today_window(now: datetime, start_hours: float, length_hours: float) -> dict[str, str]:
    """A window around ``now`` on whole quarter hours, as a dispatcher would promise it."""
    start = now + timedelta(hours=start_hours)
    start = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
    return {"start": _iso(start), "end": _iso(start + timedelta(hours=length_hours))}


def _day_window(day: datetime, start: time, hours: int) -> dict[str, str]:
    begin = datetime.combine(day.date(), start, tzinfo=day.tzinfo)
    return {"start": _iso(begin), "end": _iso(begin + timedelta(hours=hours))}


def _drive(job_id: str, start: float, route: list[Point], ping_seconds: float) -> tuple[list[Step], float]:
    """``en_route``, a ping every ``ping_seconds`` along ``route``, then ``in_progress``."""
    steps = [Step(start, "job.status_changed", {"job_id": job_id, "status": "en_route"}, "technician sets off")]
    points = along(route, DRIVE_SPEED_MPS * ping_seconds)
    at = start
    for (lat, lon), heading in points:
        at += ping_seconds
        data = {"job_id": job_id, "lat": round(lat, 6), "lon": round(lon, 6), "accuracy_m": 8.0}
        steps.append(Step(at, "technician.location", {**data, "speed_mps": DRIVE_SPEED_MPS, "heading": heading}))
    at += ping_seconds
    steps.append(Step(at, "job.status_changed", {"job_id": job_id, "status": "in_progress"}, "technician arrives"))
    return steps, at


def machine_zone() -> str | None:
    """The IANA name of this machine's time zone (``TZ``, else what /etc/localtime links to), if it has one."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    if LOCALTIME.is_symlink():
        target = str(LOCALTIME.resolve())
        candidates.append(target.partition("zoneinfo/")[2])
    for name in candidates:
        try:
            if name:
                ZoneInfo(name)
                return name
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return None


def daytime_zone(now: datetime, preferred: str | None = None) -> str:
    """``preferred`` (the machine's zone) if it is daytime there now, else the first daytime zone of ours."""
    for name in (preferred, *DAYTIME_ZONES):
        if name and DAYTIME[0] <= now.astimezone(ZoneInfo(name)).time() < DAYTIME[1]:
            return name
    return TIMEZONE


def build(now: datetime, ping_seconds: float = PING_SECONDS, zone_name: str | None = None) -> Scenario:
    """The demo's jobs and steps for a demo started at ``now``, in ``zone_name`` (default: a daytime zone)."""
    zone_name = zone_name or daytime_zone(now, machine_zone())
    local = now.astimezone(ZoneInfo(zone_name))
    tomorrow = local + timedelta(days=1)
    jobs = [
        DemoJob(
            "DEMO-101",
            "scheduled for tomorrow",
            {
                "id": "DEMO-101",
                "reference": "R-101",
                "status": "scheduled",
                "service": "Air conditioning tune-up",
                "timezone": zone_name,
                "window": _day_window(tomorrow, time(9), 2),
                "customer": _customer("Priya Shah", "+13125550101", "priya@example.com", "en"),
                "address": {"text": "2140 N Clark St, Chicago, IL", "lat": 41.9212, "lon": -87.6378},
                "technician": {"id": "T-1", "name": "Marcus Reed"},
                "reschedule_slots": [
                    _day_window(tomorrow, time(13), 2),
                    _day_window(tomorrow + timedelta(days=1), time(9), 2),
                    _day_window(tomorrow + timedelta(days=1), time(13), 2),
                ],
            },
        ),
        DemoJob(
            "DEMO-102",
            "booked for today; the technician sets off a few minutes in",
            {
                "id": "DEMO-102",
                "reference": "R-102",
                "status": "dispatched",
                "service": "Dishwasher installation",
                "timezone": zone_name,
                "window": _today_window(local, 0.5, 2),
                "customer": _customer("Tom Becker", "+13125550102", None, "en", ["sms"]),
                "address": SECOND_ADDRESS,
                "technician": {"id": "T-2", "name": "Aisha Khan"},
            },
        ),
        DemoJob(
            "DEMO-103",
            "technician driving to the customer (Spanish)",
            {
                "id": "DEMO-103",
                "reference": "R-103",
                "status": "dispatched",
                "service": "Reparación de calentador de agua",
                "timezone": zone_name,
                "window": _today_window(local, -0.25, 2),
                "customer": _customer("Lucía Fernández", "+13125550103", "lucia@example.com", "es"),
                "address": DRIVE_ADDRESS,
                "technician": {"id": "T-3", "name": "Dana Whitfield"},
            },
        ),
        DemoJob(
            "DEMO-104",
            "completed, waiting for a rating",
            {
                "id": "DEMO-104",
                "reference": "R-104",
                "status": "completed",
                "service": "Furnace inspection",
                "timezone": zone_name,
                "window": _today_window(local, -3, 2),
                "customer": _customer("Grace Kim", "+13125550104", "grace@example.com", "en"),
                "address": {"text": "900 S Wabash Ave, Chicago, IL", "lat": 41.8703, "lon": -87.6258},
                "technician": {"id": "T-4", "name": "Luis Ortega"},
            },
        ),
    ]
    steps = [Step(0.0, "job.updated", {"job": j.job}, j.story) for j in jobs]
    drive, arrived = _drive("DEMO-103", 2.0, DRIVE_ROUTE, ping_seconds)
    steps += drive
    steps.append(
        Step(arrived + ON_SITE_SECONDS, "job.status_changed", {"job_id": "DEMO-103", "status": "completed"}, "done")
    )
    second, _ = _drive("DEMO-102", max(SECOND_DRIVE_AT, arrived + ping_seconds), SECOND_ROUTE, ping_seconds)
    steps += second
    return Scenario(jobs, sorted(steps, key=lambda s: s.at), zone_name)


def _customer(
    name: str, phone: str, email: str | None, locale: str, channels: list[str] | None = None
) -> dict[str, Any]:
    customer: dict[str, Any] = {"name": name, "phone": phone, "locale": locale}
    if email:
        customer["email"] = email
    customer["channels"] = channels or (["sms", "email"] if email else ["sms"])
    return customer
