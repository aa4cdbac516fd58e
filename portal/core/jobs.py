"""Applying field-system events to a job: pure, ordered by event time, idempotent.

Events may arrive late, twice or out of order. Each field of a job remembers the stamp
(event time, webhook id) of the value it holds; an event only replaces a field whose stamp
is older. Applying the same set of events in any order therefore gives the same job, which
the property tests check.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers

from portal.core.progress import PROGRESS, merge_step, step_of, steps_in

STATUSES = (
    "created",
    "scheduled",
    "dispatched",
    "en_route",
    "in_progress",
    "completed",
    "cancelled",
    "on_hold",
)
CLOSED_STATUSES = frozenset({"completed", "cancelled"})
OPEN_STATUSES = frozenset(STATUSES) - CLOSED_STATUSES

# Top-level job fields replaced as a whole; customer and address merge per sub-field so
# an update that names only the email keeps the phone.
WHOLE_FIELDS = (
    "reference",
    "status",
    "service",
    "timezone",
    "window",
    "technician",
    "reschedule_slots",
    "invoice_url",
    "notes",
)
MERGED_FIELDS = {
    "customer": ("name", "phone", "email", "locale", "channels"),
    "address": ("text", "lat", "lon"),
}
# Observations of status kept per job: enough for any real timeline, bounded against abuse.
MAX_STATUS_OBSERVATIONS = 200
# Recent pings kept for the ETA's speed (portal/core/eta.py), newest first: a few minutes of
# driving is enough to ride through one red light, and a short trail keeps little history of
# where the technician went. Older pings are dropped, not archived.
TRAIL_SIZE = 6
TRAIL_SPAN_SECONDS = 600  # 10 minutes: older driving says little about the next few minutes
# The line the tracking page draws behind the technician: a longer memory than the ETA's
# window, so the customer sees where the van came from, yet short enough to say nothing of
# earlier stops (a trip's last half hour at most).
PUBLIC_TRAIL_SIZE = 20
PUBLIC_TRAIL_SPAN_SECONDS = 30 * 60

Stamp = tuple[str, str]


@dataclass(frozen=True)
class FieldEvent:
    """One verified, validated field-system webhook."""

    webhook_id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any]

    @property
    def job_id(self) -> str:
        if self.type == "job.updated":
            return str(self.data["job"]["id"])
        return str(self.data["job_id"])

    @property
    def stamp(self) -> Stamp:
        return (iso_utc(self.occurred_at), self.webhook_id)


@dataclass
class Job:
    """A job as the portal knows it: field values, their stamps, and the status history."""

    id: str
    values: dict[str, Any] = field(default_factory=dict)
    stamps: dict[str, Stamp] = field(default_factory=dict)
    observations: list[tuple[str, str]] = field(default_factory=list)
    location: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        return str(self.values.get("status") or "created")

    @property
    def customer(self) -> dict[str, Any]:
        return {k: self.values.get(f"customer.{k}") for k in MERGED_FIELDS["customer"]}

    @property
    def address(self) -> dict[str, Any]:
        return {k: self.values.get(f"address.{k}") for k in MERGED_FIELDS["address"]}

    @property
    def closed_at(self) -> str | None:
        """When the job was completed or cancelled, if that is its current status."""
        if self.status not in CLOSED_STATUSES:
            return None
        stamp = self.stamps.get("status")
        return stamp[0] if stamp else None

    @property
    def timeline(self) -> list[dict[str, str]]:
        """Status changes in event order, repeats of the same status folded into the first."""
        result: list[dict[str, str]] = []
        for at, status in sorted(self.observations):
            if not result or result[-1]["status"] != status:
                result.append({"status": status, "at": at})
        return result

    def copy(self) -> Job:
        """A copy safe to change: values are replaced, never mutated in place, so a shallow copy will do."""
        return Job(self.id, dict(self.values), dict(self.stamps), list(self.observations), self.location)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "values": self.values,
            "stamps": {k: list(v) for k, v in self.stamps.items()},
            "observations": [list(o) for o in self.observations],
            "location": self.location,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Job:
        return cls(
            id=raw["id"],
            values=raw.get("values", {}),
            stamps={k: (v[0], v[1]) for k, v in raw.get("stamps", {}).items()},
            observations=[(o[0], o[1]) for o in raw.get("observations", [])],
            location=raw.get("location"),
        )


def iso_utc(moment: datetime) -> str:
    """A fixed-width UTC timestamp, so that string order is time order.

    Formatted by hand: ``strftime("%Y")`` writes years before 1000 with fewer digits on some
    platforms, which neither sorts nor parses back.
    """
    m = moment.astimezone(UTC)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"


def parse_iso(raw: str) -> datetime:
    """Parse ISO 8601 with an offset (``Z`` allowed); naive times are refused upstream."""
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("timestamp needs a UTC offset")
    return moment


@functools.lru_cache(maxsize=4096)
def normalize_phone(raw: str | None, region: str) -> str | None:
    """E.164 form of a phone number, or None when it cannot be a valid number.

    Kept for the numbers seen lately: every ``job.updated`` carries its customer's number again,
    and parsing one with phonenumbers costs more than the rest of reading the job.
    """
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def apply_event(job: Job | None, event: FieldEvent, region: str = "US") -> Job:
    """Return the job after ``event``; the input is not modified."""
    new = Job(id=event.job_id) if job is None else job.copy()
    stamp = event.stamp
    if event.type == "job.updated":
        _apply_job_fields(new, event.data["job"], stamp, region)
    elif event.type == "job.status_changed":
        _observe_status(new, event.data["status"], stamp)
        if _wins(new, "status", stamp):
            _set(new, "status", event.data["status"], stamp)
            _set(new, "status_reason", event.data.get("reason"), stamp)
    elif event.type == "technician.location":
        _apply_location(new, event.data, stamp)
    elif event.type == "job.eta":
        if _wins(new, "eta", stamp):
            _set(new, "eta", {"at": event.data["eta"], "reported_at": stamp[0]}, stamp)
    elif event.type == "job.progress":
        step = step_of(event.data, stamp, iso_utc(parse_iso(event.data["recorded_at"])))
        new.values[PROGRESS] = merge_step(steps_in(new.values), step)
    else:
        raise ValueError(f"unknown event type {event.type!r}")
    return new


def _apply_job_fields(job: Job, data: dict[str, Any], stamp: Stamp, region: str) -> None:
    for name in WHOLE_FIELDS:
        if name not in data:
            continue
        if name == "status":
            _observe_status(job, data["status"], stamp)
        if _wins(job, name, stamp):
            _set(job, name, data[name], stamp)
            if name == "status":
                _set(job, "status_reason", None, stamp)
    for group, keys in MERGED_FIELDS.items():
        part = data.get(group)
        if not isinstance(part, dict):
            continue
        for key in keys:
            path = f"{group}.{key}"
            if key in part and _wins(job, path, stamp):
                _set(job, path, part[key], stamp)
                if path == "customer.phone":
                    _set(job, "customer.phone_e164", normalize_phone(part[key], region), stamp)


def _apply_location(job: Job, data: dict[str, Any], stamp: Stamp) -> None:
    recorded = iso_utc(parse_iso(data["recorded_at"]))
    order = [recorded, *stamp]
    ping = {"lat": data["lat"], "lon": data["lon"], "speed_mps": data.get("speed_mps"), "order": order}
    trail = merge_trail(job.location.get("trail", []) if job.location else [], ping)
    path = merge_path(job.location.get("path", []) if job.location else [], ping)
    if job.location is not None and job.location.get("order", [job.location["recorded_at"]]) >= order:
        job.location = {**job.location, "trail": trail, "path": path}  # a new dict: copies share the old one
        return
    job.location = {
        "lat": data["lat"],
        "lon": data["lon"],
        "accuracy_m": data.get("accuracy_m"),
        "speed_mps": data.get("speed_mps"),
        "heading": data.get("heading"),
        "recorded_at": recorded,
        "order": order,  # recorded_at, then the event stamp: simultaneous pings resolve the same way
        "trail": trail,
        "path": path,
    }


def merge_trail(trail: list[dict[str, Any]], ping: dict[str, Any]) -> list[dict[str, Any]]:
    """The newest ``TRAIL_SIZE`` pings within ``TRAIL_SPAN_SECONDS`` of the newest, newest first.

    A function of the set of pings seen, whatever their order or repetition: a ping dropped
    as too old could never come back into a later trail, so dropping it early changes nothing.
    """
    if any(p["order"] == ping["order"] for p in trail):
        return trail
    merged = sorted([*trail, ping], key=lambda p: p["order"], reverse=True)[:TRAIL_SIZE]
    oldest = _span_start(merged[0], TRAIL_SPAN_SECONDS)
    return [p for p in merged if p["order"][0] >= oldest]


def merge_path(path: list[dict[str, Any]], ping: dict[str, Any]) -> list[dict[str, Any]]:
    """The public trail: the newest ``PUBLIC_TRAIL_SIZE`` positions within its span, newest first.

    Kept apart from the ETA's ``trail`` so that neither window changes the other.
    """
    point = {"lat": ping["lat"], "lon": ping["lon"], "order": ping["order"]}
    if any(p["order"] == point["order"] for p in path):
        return path
    merged = sorted([*path, point], key=lambda p: p["order"], reverse=True)[:PUBLIC_TRAIL_SIZE]
    oldest = _span_start(merged[0], PUBLIC_TRAIL_SPAN_SECONDS)
    return [p for p in merged if p["order"][0] >= oldest]


def _span_start(newest: dict[str, Any], seconds: int) -> str:
    """The earliest ``order`` time kept ``seconds`` before the newest ping's.

    Order times are ``iso_utc`` text, whose string order is time order: comparing text
    spares parsing every kept ping again on each new one.
    """
    return iso_utc(parse_iso(newest["order"][0]) - timedelta(seconds=seconds))


def _observe_status(job: Job, status: str, stamp: Stamp) -> None:
    observation = (stamp[0], status)
    if observation in job.observations:
        return
    job.observations.append(observation)
    job.observations.sort()
    del job.observations[:-MAX_STATUS_OBSERVATIONS]


def _wins(job: Job, path: str, stamp: Stamp) -> bool:
    current = job.stamps.get(path)
    return current is None or stamp > current


def _set(job: Job, path: str, value: Any, stamp: Stamp) -> None:
    job.values[path] = value
    job.stamps[path] = stamp
