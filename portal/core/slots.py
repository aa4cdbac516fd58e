"""Times a customer may move a visit to: the job's own offer, or else the operator's policy.

The field system may send ``reschedule_slots`` with a job; those are offered as they are.
Without them, ``PORTAL_RESCHEDULE_SLOTS`` names local windows (``09:00-11:00,13:00-15:00``)
that are offered on business days (Monday to Friday) from tomorrow, in the job's own time
zone, the earliest ``SLOTS_OFFERED`` of them. The SMS grammar, the page and the form all ask
``offered_slots``, so what a text lists, what the page shows and what a form accepts agree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from portal.core.jobs import Job, parse_iso

LocalWindow = tuple[time, time]  # start and end, local wall-clock times of one day
SLOTS_OFFERED = 3  # what fits one SMS and one glance
BUSINESS_DAYS = frozenset(range(5))  # Monday (0) to Friday (4)
LOOKAHEAD_DAYS = 14  # days searched for slots: two weeks hold ten business days
RESCHEDULABLE = frozenset({"created", "scheduled", "dispatched", "on_hold"})


@dataclass(frozen=True)
class SlotPolicy:
    """The operator's fallback offer; no windows means none (customers are asked to call)."""

    windows: tuple[LocalWindow, ...] = ()
    count: int = SLOTS_OFFERED


NO_POLICY = SlotPolicy()


def _exists(moment: datetime, tz: ZoneInfo) -> bool:
    """False for a wall-clock time skipped by a DST change (e.g. 02:30 on a spring-forward day)."""
    back = moment.astimezone(UTC).astimezone(tz)
    return back.replace(tzinfo=None) == moment.replace(tzinfo=None)


def policy_slots(policy: SlotPolicy, tz: ZoneInfo, now: datetime) -> list[dict[str, str]]:
    """The policy's next slots from tomorrow (local to ``tz``), as ISO times with their offset."""
    if not policy.windows or policy.count <= 0:
        return []
    today: date = now.astimezone(tz).date()
    found: list[dict[str, str]] = []
    for offset in range(1, LOOKAHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        if day.weekday() not in BUSINESS_DAYS:
            continue
        for start, end in sorted(policy.windows):
            begins = datetime.combine(day, start, tzinfo=tz)
            ends = datetime.combine(day, end, tzinfo=tz)
            if _exists(begins, tz) and _exists(ends, tz):
                found.append({"start": begins.isoformat(), "end": ends.isoformat()})
            if len(found) == policy.count:
                return found
    return found


def offered_slots(job: Job, now: datetime, policy: SlotPolicy, tz: ZoneInfo) -> list[dict[str, str]]:
    """The job's own ``reschedule_slots``; else, while it may still move, the policy's.

    Either way never the visit's current window: moving a visit to where it already is is no offer.
    """
    window = job.values.get("window")
    own = job.values.get("reschedule_slots") or []
    if own:
        return [{"start": s["start"], "end": s["end"]} for s in own if not _same(window, s)]
    if job.status not in RESCHEDULABLE:
        return []
    # One more than offered, so that leaving out the current window still offers the full count.
    spare = policy_slots(replace(policy, count=policy.count + 1), tz, now)
    return [s for s in spare if not _same(window, s)][: policy.count]


def _same(window: dict[str, Any] | None, slot: dict[str, str]) -> bool:
    if not window:
        return False
    return parse_iso(window["start"]) == parse_iso(slot["start"]) and parse_iso(window["end"]) == parse_iso(slot["end"])
