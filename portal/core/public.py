"""What a customer may see of a job, and which live events a change produces.

The public state is the only view of a job that leaves the portal through a tracking link:
it never carries the customer's phone or email, and it carries the technician's position
only while they are on the way.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from portal.core import route as road
from portal.core.eta import (
    DEFAULT_CONFIG,
    HELD,
    EtaConfig,
    arriving,
    displayed,
    late,
    minutes_left,
    stale_after,
)
from portal.core.eta_log import ETA_LOG
from portal.core.jobs import Job, iso_utc, parse_iso
from portal.core.plausible import is_zone
from portal.core.progress import public_steps
from portal.core.slots import NO_POLICY, RESCHEDULABLE, SlotPolicy, offered_slots
from portal.core.text import clean
from portal.core.trip import ARRIVING, LATE, overdue

STATUS_LABELS = {
    "created": "Request received",
    "scheduled": "Scheduled",
    "dispatched": "Technician assigned",
    "en_route": "Technician on the way",
    "in_progress": "Technician on site",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "on_hold": "On hold",
}
# The ``eta`` event that clears the estimate (the field system withdrew it, the position went).
NO_ETA: dict[str, Any] = {"at": None, "minutes": None, "range": None, "stale": False}
DEFAULT_TIMEZONE = "UTC"
# Keys whose change is announced as a ``job`` event (details changed).
DETAIL_KEYS = (
    "reference",
    "service",
    "window",
    "timezone",
    "technician",
    "can_reschedule",
    "slots",
    "reschedule",
    "rating",
    "invoice_url",
    "timeline",
    "destination",
    "route",
)
# What a position report writes besides the position (``core/trip.py``, ``core/eta_log.py``):
# the marks that send a message once and the log of ranges shown. None of them is shown,
# except the estimate held for steadying (``HELD``), which only the ETA reads.
POSITION_MARKS = frozenset({LATE, ARRIVING, ETA_LOG, HELD})
# The keys of the public state that only the position and ``POSITION_MARKS`` move.
MOVING_KEYS = ("eta", "late", "location", "trail")
# Keys whose values the portal makes itself (enumerated statuses and labels, times it formats,
# a checked zone name, coordinates, the road engine's numbers): no field text to clean.
PORTAL_MADE = frozenset(
    {*MOVING_KEYS, "status", "status_label", "window", "timezone", "destination", "route", "timeline", "can_reschedule"}
)
_ABSENT = object()  # a value key one side lacks


def zone(job: Job) -> ZoneInfo:
    """The job's time zone; an unknown name (refused at intake) falls back to UTC."""
    name = str(job.values.get("timezone") or DEFAULT_TIMEZONE)
    return ZoneInfo(name if is_zone(name) else DEFAULT_TIMEZONE)


@functools.lru_cache(maxsize=4096)
def local_iso(raw: str, tz: ZoneInfo) -> str:
    """A stored UTC time in the job's zone. Kept for the times seen lately: a change builds the
    state before and after it, with the same timeline, window and steps on both sides."""
    return parse_iso(raw).astimezone(tz).isoformat()


def first_name(name: str | None) -> str | None:
    parts = (name or "").split()
    return parts[0] if parts else None


def public_state(
    job: Job, now: datetime, eta_config: EtaConfig = DEFAULT_CONFIG, slot_policy: SlotPolicy = NO_POLICY
) -> dict[str, Any]:
    tz = zone(job)
    values = job.values
    window = values.get("window")
    technician = values.get("technician")
    slots = offered_slots(job, now, slot_policy, tz)
    # A cancellation asked for after a change of time supersedes it: the page shows one request.
    cancelling = values.get("portal.cancel") is not None
    pending = None if cancelling else values.get("portal.reschedule")
    status = job.status
    en_route = status == "en_route"
    moving = _moving(job, now, tz, eta_config)
    state = {
        "reference": values.get("reference") or job.id,
        "service": values.get("service"),
        "status": status,
        "status_label": STATUS_LABELS[status],
        "window": ({"start": local_iso(window["start"], tz), "end": local_iso(window["end"], tz)} if window else None),
        "timezone": tz.key,
        "technician": _technician(technician) if technician else None,
        "eta": moving["eta"],
        "late": moving["late"],
        "location": moving["location"],
        "destination": _destination(job) if en_route else None,
        "trail": moving["trail"],
        "route": road.geojson(job) if en_route else None,  # GeoJSON LineString, with routing configured
        "progress": public_steps(values, lambda raw: local_iso(raw, tz)),
        "timeline": [{"status": step["status"], "at": local_iso(step["at"], tz)} for step in job.timeline],
        "can_reschedule": status in RESCHEDULABLE and bool(slots) and pending is None and not cancelling,
        "slots": slots,
        "reschedule": pending,
        "rating": values.get("portal.rating"),
        "invoice_url": values.get("invoice_url"),
    }
    # Field text is shown in the page by script, so it is cleaned of bidi controls here; the
    # keys the portal makes hold none, and every change rebuilds two states: they skip the walk.
    return {key: value if key in PORTAL_MADE else clean(value) for key, value in state.items()}


def _moving(job: Job, now: datetime, tz: ZoneInfo, eta_config: EtaConfig) -> dict[str, Any]:
    """The keys of the public state a position report can move (``MOVING_KEYS``).

    Nothing in them is field text to clean: coordinates, accuracy and speeds are numbers (the
    webhook schemas say so), and every time and label is formatted or named here.
    """
    en_route = job.status == "en_route"
    eta = _eta(job, now, tz, eta_config) if en_route else None
    return {
        "eta": eta,
        # Running late: the live estimate passes the window's end, or the clock already has.
        "late": overdue(job, now) or bool(eta and eta["late"]),
        "location": _location(job, tz) if en_route else None,
        "trail": _trail(job) if en_route else None,
    }


def _technician(technician: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": first_name(technician.get("name")),
        "photo_url": technician.get("photo_url"),
        "vehicle": technician.get("vehicle"),
    }


def _eta(job: Job, now: datetime, tz: ZoneInfo, config: EtaConfig) -> dict[str, Any] | None:
    """``at`` and ``minutes`` (CONTRACT §6), a clock range, and what the estimate rests on.

    ``stale`` means no fresh news (position or field ETA): pages must not show it as live.
    """
    shown = displayed(job, now, config)
    if shown is None:
        return None
    found, (start, end) = shown
    distance = found.distance_m
    return {
        "at": found.at.astimezone(tz).isoformat(),
        "minutes": minutes_left(found.at, now),
        "range": {"start": start.astimezone(tz).isoformat(), "end": end.astimezone(tz).isoformat()},
        "stale": found.stale,
        "stale_at": (found.updated_at + stale_after(found, config)).astimezone(tz).isoformat(),
        "updated_at": found.updated_at.astimezone(tz).isoformat(),
        "source": found.source,
        "distance_m": round(distance) if distance is not None else None,
        "arriving": arriving(found, config),
        "late": late(found, job.values.get("window")),
    }


def _location(job: Job, tz: ZoneInfo) -> dict[str, Any] | None:
    loc = job.location
    if loc is None:
        return None
    return {
        "lat": loc["lat"],
        "lon": loc["lon"],
        "updated_at": local_iso(loc["recorded_at"], tz),
        "accuracy_m": loc.get("accuracy_m"),
    }


def _destination(job: Job) -> dict[str, float] | None:
    """Where the technician is going: the job's address, when the field system gave its coordinates."""
    lat, lon = job.address.get("lat"), job.address.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    return {"lat": lat, "lon": lon}


def _trail(job: Job) -> list[dict[str, float]]:
    """Recent positions, oldest first, so the page draws the line the way the van went."""
    path = job.location.get("path", []) if job.location else []
    return [{"lat": p["lat"], "lon": p["lon"]} for p in reversed(path)]


def location_event(state: dict[str, Any]) -> dict[str, Any]:
    """A ``location`` event: the position and the trail that leads to it."""
    return {**state["location"], "trail": state["trail"]}


def live_events(
    before: Job | None,
    after: Job,
    now: datetime,
    eta_config: EtaConfig = DEFAULT_CONFIG,
    slot_policy: SlotPolicy = NO_POLICY,
) -> list[tuple[str, dict[str, Any]]]:
    """The events an open tracking page needs to move from ``before`` to ``after``.

    A position report (or a mark) changes only the keys in ``MOVING_KEYS``, so for such a
    change only those are worked out, for both sides: the same events, at a fraction of the
    cost of two whole public states (most webhooks are pings).
    """
    if before is not None and position_only(before, after):
        return _position_events(before, after, now, eta_config)
    return state_events(before, after, now, eta_config, slot_policy)


def state_events(
    before: Job | None,
    after: Job,
    now: datetime,
    eta_config: EtaConfig = DEFAULT_CONFIG,
    slot_policy: SlotPolicy = NO_POLICY,
) -> list[tuple[str, dict[str, Any]]]:
    """``live_events`` from the two whole public states: right for any change."""
    old = public_state(before, now, eta_config, slot_policy) if before is not None else None
    new = public_state(after, now, eta_config, slot_policy)
    events: list[tuple[str, dict[str, Any]]] = []
    if old is None or old["status"] != new["status"]:
        events.append(("status", status_event(new, after)))
    else:
        events.extend(_moving_events(old, new))
    if old is not None and old["progress"] != new["progress"]:
        events.append(("progress", {"progress": new["progress"]}))
    if old is None or any(old[k] != new[k] for k in DETAIL_KEYS):
        events.append(("job", new))
    return events


def position_only(before: Job, after: Job) -> bool:
    """Whether ``after`` differs from ``before`` in nothing but the position and ``POSITION_MARKS``.

    Then the status, the details, the progress and the requests are the same on both sides,
    and of the public state only ``MOVING_KEYS`` can differ.
    """
    if before.id != after.id or before.stamps != after.stamps or before.observations != after.observations:
        return False
    old, new = before.values, after.values
    for key in old.keys() | new.keys():
        was, now = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if was is not now and key not in POSITION_MARKS and was != now:
            return False
    return True


def _position_events(before: Job, after: Job, now: datetime, eta_config: EtaConfig) -> list[tuple[str, dict[str, Any]]]:
    """``state_events`` for a ``position_only`` change: no status, progress or ``job`` event can come of it."""
    tz = zone(after)
    return _moving_events(_moving(before, now, tz, eta_config), _moving(after, now, tz, eta_config))


def _moving_events(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The ``location`` and ``eta`` events between two states of the same status (whole, or
    just their ``MOVING_KEYS``): a status change says all of it in its ``status`` event."""
    events: list[tuple[str, dict[str, Any]]] = []
    if (old["location"], old["trail"]) != (new["location"], new["trail"]) and new["location"] is not None:
        events.append(("location", location_event(new)))
    if old["eta"] != new["eta"]:
        events.append(("eta", new["eta"] or NO_ETA))
    return events


def status_event(state: dict[str, Any], job: Job) -> dict[str, Any]:
    return {
        "status": state["status"],
        "status_label": state["status_label"],
        "reason": job.values.get("status_reason"),
        "timeline": state["timeline"],
        "late": state["late"],
        "eta": state["eta"],
        "location": state["location"],
        "destination": state["destination"],
        "trail": state["trail"],
        "route": state["route"],
    }


__all__ = ["RESCHEDULABLE", "STATUS_LABELS", "iso_utc", "live_events", "public_state", "status_event"]
