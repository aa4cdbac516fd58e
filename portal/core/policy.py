"""Which customer messages a change to a job causes: pure, table-driven, deduplicated.

``notices(before, after, now, policy)`` compares the job before and after one event and
returns the messages to queue. It reads no clock and does no I/O, so any store (SQLite now,
Redis later) can call it inside its atomic change.

The table (``RULES``), one row per message:

=====================  ===============================================  ==========
message                sent when                                        timing
=====================  ===============================================  ==========
booking_confirmed      the job becomes booked (``scheduled`` or          polite
                       ``dispatched``) or its window moves while booked
reminder               before a booked visit: 18:00 local the day        reminder
                       before, or 2 hours before when booked later
technician_assigned    the technician changes on a booked job            polite
en_route               the status becomes ``en_route`` (with the link)   urgent
completed              the status becomes ``completed`` (thanks,         deferred
                       rating request, invoice link when there is one)
cancelled              the status becomes ``cancelled``                  urgent
on_hold                the status becomes ``on_hold``                    polite
running_late           the live ETA first passes the end of the          urgent
                       promised window, or the window ends (plus a
                       grace) with the visit not started (once per
                       window; with the new estimate, if any, and the
                       link)
arriving               the technician first comes within the arrival     urgent
                       radius on a trip (off unless enabled)
=====================  ===============================================  ==========

Nothing else sends a message: ``created``, ``in_progress``, notes and address changes change
nothing a message would say; location pings and ETAs only through the ``running_late`` and
``arriving`` marks that ``portal/core/trip.py`` sets once. Quiet hours apply to SMS only (email
waits in an inbox): ``urgent`` goes at once; ``polite`` waits for the end of quiet hours unless
the visit starts before then (late news beats no news); ``deferred`` always waits;
``reminder`` is moved out of quiet hours and dropped when that would put it after the start.

Dedup keys name the state a message is about, built from the stamps of the fields that
triggered it (a field's stamp only ever grows), so the same state can never produce a second
message, whatever order or how many times the webhooks arrive; the store inserts outbox rows
with "on conflict do nothing" on that key.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from portal.core.contacts import single_address
from portal.core.jobs import CLOSED_STATUSES, Job, iso_utc, parse_iso
from portal.core.public import first_name, zone
from portal.core.trip import LATE, arriving_key, late_key

CHANNELS = ("sms", "email")
BOOKED = frozenset({"scheduled", "dispatched"})
# Messages that announce the status of the same name, and are only true while it lasts.
STATUS_MESSAGES = frozenset({"en_route", "completed", "cancelled", "on_hold"})
DEFAULT_LOCALE = "en"
DEFAULT_REMINDER_TIME = time(18, 0)  # the evening before: time to plan, not yet forgotten
DEFAULT_REMINDER_LEAD = timedelta(hours=2)  # for late bookings: enough to get home


class Timing(enum.Enum):
    URGENT = "urgent"
    POLITE = "polite"
    DEFERRED = "deferred"
    REMINDER = "reminder"


@dataclass(frozen=True)
class Policy:
    """The operator's choices (``PORTAL_NOTIFICATIONS``, ``PORTAL_QUIET_HOURS``, ``PORTAL_REMINDER_*``)."""

    enabled: frozenset[str] = frozenset()
    quiet_hours: tuple[time, time] | None = None
    reminder_time: time = DEFAULT_REMINDER_TIME
    reminder_lead: timedelta = DEFAULT_REMINDER_LEAD


@dataclass(frozen=True)
class Notice:
    """One message to one address, ready to become an outbox row."""

    dedup_key: str
    message: str
    channel: str
    job_id: str
    payload: dict[str, Any]
    not_before: str | None = None


# A trigger returns the dedup discriminator of the state it announces, or None.
Trigger = Callable[[Job | None, Job], str | None]


@dataclass(frozen=True)
class Rule:
    message: str
    timing: Timing
    trigger: Trigger = field(repr=False)


def _stamp_at(job: Job, name: str) -> str:
    stamp = job.stamps.get(name)
    return stamp[0] if stamp else "-"


def _window(job: Job | None) -> dict[str, str] | None:
    if job is None:
        return None
    window = job.values.get("window")
    return window if isinstance(window, dict) else None


def _tech_id(job: Job | None) -> str | None:
    tech = job.values.get("technician") if job is not None else None
    if not isinstance(tech, dict):
        return None
    return str(tech.get("id") or tech.get("name") or "") or None


def _booked(job: Job | None) -> bool:
    return job is not None and job.status in BOOKED


def _entered(status: str) -> Trigger:
    def trigger(before: Job | None, after: Job) -> str | None:
        if after.status != status or (before is not None and before.status == status):
            return None
        return _stamp_at(after, "status")

    return trigger


def _booking(before: Job | None, after: Job) -> str | None:
    if not _booked(after):
        return None
    if _booked(before) and _window(before) == _window(after):
        return None
    return f"{_stamp_at(after, 'status')}/{_stamp_at(after, 'window')}"


def _reminder(before: Job | None, after: Job) -> str | None:
    window = _window(after)
    if not _booked(after) or window is None:
        return None
    if _booked(before) and _window(before) == window:
        return None
    return iso_utc(parse_iso(window["start"]))


def _technician(before: Job | None, after: Job) -> str | None:
    # Not on the booking itself (the confirmation comes then) nor once on the way.
    if before is None or not _booked(after) or not _booked(before):
        return None
    tech = _tech_id(after)
    if tech is None or tech == _tech_id(before):
        return None
    return _stamp_at(after, "technician")


def _running_late(before: Job | None, after: Job) -> str | None:
    # Keyed by the promised window's end: one message per promise, however often the ETA moves.
    window_end = late_key(after)
    if window_end is None or window_end == late_key(before):
        return None
    return iso_utc(parse_iso(window_end))


def _arriving(before: Job | None, after: Job) -> str | None:
    trip = arriving_key(after)
    if trip is None or trip == arriving_key(before):
        return None
    return trip


RULES: tuple[Rule, ...] = (
    Rule("booking_confirmed", Timing.POLITE, _booking),
    Rule("reminder", Timing.REMINDER, _reminder),
    Rule("technician_assigned", Timing.POLITE, _technician),
    Rule("en_route", Timing.URGENT, _entered("en_route")),
    Rule("completed", Timing.DEFERRED, _entered("completed")),
    Rule("cancelled", Timing.URGENT, _entered("cancelled")),
    Rule("on_hold", Timing.POLITE, _entered("on_hold")),
    Rule("running_late", Timing.URGENT, _running_late),
    Rule("arriving", Timing.URGENT, _arriving),
)


def reachable(job: Job) -> bool:
    """Whether the job has any address a message could go to."""
    customer = job.customer
    return bool(customer.get("phone") or customer.get("email"))


def notices(before: Job | None, after: Job, now: datetime, policy: Policy) -> list[Notice]:
    """The messages that moving from ``before`` to ``after`` causes, one per channel."""
    if not reachable(after):
        return []
    # Until the customer could be reached, nothing was announced: the first reachable state
    # is announced as if the job were new (its status was not yet told to anyone).
    seen = before if before is not None and reachable(before) else None
    result: list[Notice] = []
    for rule in RULES:
        if rule.message not in policy.enabled:
            continue
        state = rule.trigger(seen, after)
        if state is None:
            continue
        moved = rule.message == "booking_confirmed" and _booked(seen)
        result.extend(_for_channels(rule, state, after, now, policy, moved))
    return result


def _for_channels(rule: Rule, state: str, job: Job, now: datetime, policy: Policy, moved: bool) -> list[Notice]:
    tz = zone(job)
    start = _visit_start(job)
    due = now
    if rule.timing is Timing.REMINDER:
        if start is None:
            return []
        reminder = reminder_time(start, now, tz, policy)
        if reminder is None:
            return []
        due = reminder
    found = []
    for channel, to, fallback in _addresses(job):
        at: datetime | None = due
        if channel == "sms":
            at = _after_quiet_hours(rule.timing, due, start, tz, policy.quiet_hours)
        if at is None:
            continue
        key = f"{job.id}:{rule.message}:{state}:{channel}"
        payload = {
            "message": rule.message,
            "channel": channel,
            "to": to,
            "fallback_email": fallback,
            "locale": _locale(job),
            "due": iso_utc(at),
            "visit": iso_utc(start) if start else None,
            "vars": {**message_vars(job), "moved": moved},
        }
        not_before = iso_utc(at) if at > now else None
        found.append(Notice(key, rule.message, channel, job.id, payload, not_before))
    return found


def _after_quiet_hours(
    timing: Timing, due: datetime, start: datetime | None, tz: ZoneInfo, quiet: tuple[time, time] | None
) -> datetime | None:
    """When an SMS due at ``due`` may go; None when it is no longer worth sending."""
    if timing is Timing.URGENT:
        return due
    later = end_of_quiet_hours(due, tz, quiet)
    if later == due:
        return due
    if timing is Timing.REMINDER:
        return later if start is None or later < start else None
    if timing is Timing.POLITE and start is not None and later >= start:
        return due
    return later


def _addresses(job: Job) -> list[tuple[str, str | None, str | None]]:
    """(channel, address, fallback email) per channel the customer gets messages on.

    ``channels`` picks them; without it, SMS when there is a phone, else email. A phone that
    cannot be parsed still gets an SMS row with no address: the worker records it as not sent
    and falls back to email, so staff see why the customer got no text. An email that is not
    exactly one address (``core/contacts.py``) is treated the same way.
    """
    customer = job.customer
    given_email = customer.get("email") or None
    email = single_address(given_email)
    phone = job.values.get("customer.phone_e164")
    wanted = customer.get("channels")
    if not isinstance(wanted, list) or not wanted:
        wanted = ["sms"] if customer.get("phone") else ["email"]
    found: list[tuple[str, str | None, str | None]] = []
    if "sms" in wanted and customer.get("phone"):
        found.append(("sms", phone, None if "email" in wanted else email))
    if "email" in wanted and given_email:
        found.append(("email", email, None))
    if not found and email and "email" not in wanted:
        found.append(("email", email, None))
    return found


def _locale(job: Job) -> str:
    raw = job.customer.get("locale")
    return str(raw) if raw else DEFAULT_LOCALE


def _visit_start(job: Job) -> datetime | None:
    window = _window(job)
    return parse_iso(window["start"]).astimezone(UTC) if window else None


def message_vars(job: Job) -> dict[str, Any]:
    """What a message may say about the job, captured when it is queued.

    Names are first names only; the window is in the job's time zone.
    """
    tz = zone(job)
    window = _window(job)
    tech = job.values.get("technician")
    return {
        "reference": job.values.get("reference") or job.id,
        "service": job.values.get("service"),
        "customer_name": first_name(job.customer.get("name")),
        "technician_name": first_name(tech.get("name")) if isinstance(tech, dict) else None,
        "window": (
            {
                "start": parse_iso(window["start"]).astimezone(tz).isoformat(),
                "end": parse_iso(window["end"]).astimezone(tz).isoformat(),
            }
            if window
            else None
        ),
        "timezone": tz.key,
        "invoice_url": job.values.get("invoice_url"),
        "reason": job.values.get("status_reason"),
        "eta": _late_eta(job, tz),
    }


def _late_eta(job: Job, tz: ZoneInfo) -> str | None:
    """The estimate that made the job late, in its time zone, for the ``running_late`` message."""
    mark = job.values.get(LATE)
    if not isinstance(mark, dict) or not mark.get("eta"):
        return None  # marked by the clock alone: there is no new estimate to give
    return parse_iso(mark["eta"]).astimezone(tz).isoformat()


def local_moment(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """``clock`` on ``day`` in ``tz`` as UTC; zoneinfo picks the right offset on DST days."""
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def in_quiet_hours(moment: datetime, tz: ZoneInfo, quiet: tuple[time, time] | None) -> bool:
    if quiet is None:
        return False
    start, end = quiet
    local = moment.astimezone(tz).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


def end_of_quiet_hours(moment: datetime, tz: ZoneInfo, quiet: tuple[time, time] | None) -> datetime:
    """``moment`` itself outside quiet hours, else the next local end of them."""
    if quiet is None or not in_quiet_hours(moment, tz, quiet):
        return moment
    local = moment.astimezone(tz)
    candidate = local_moment(local.date(), quiet[1], tz)
    if candidate <= moment:
        candidate = local_moment(local.date() + timedelta(days=1), quiet[1], tz)
    return candidate


def reminder_time(start: datetime, now: datetime, tz: ZoneInfo, policy: Policy) -> datetime | None:
    """The usual evening-before time, else the lead time before the visit, else None (too late)."""
    evening = local_moment(start.astimezone(tz).date() - timedelta(days=1), policy.reminder_time, tz)
    if now < evening:
        return evening
    shortly = start - policy.reminder_lead
    if now < shortly:
        return shortly
    return None


def still_valid(payload: dict[str, Any], job: Job | None) -> bool:
    """Whether a queued message still says something true when it is about to be sent.

    A reminder is about one visit: it is dropped when the job was closed, put on hold or
    moved to another time since it was queued. A status message (held for the morning, or
    retried) is dropped once the job has moved on to another status: "on hold" after the job
    was re-booked, or "on the way" once the technician is on site, would mislead. Other
    messages report what happened.
    """
    if job is None:
        return False
    message = payload.get("message")
    if message in STATUS_MESSAGES:
        return job.status == str(message)
    if message != "reminder":
        return True
    if job.status in CLOSED_STATUSES or job.status not in BOOKED:
        return False
    start = _visit_start(job)
    return start is not None and iso_utc(start) == payload.get("visit")
