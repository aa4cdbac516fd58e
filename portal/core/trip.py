"""Moments worth a message while the technician drives: running late, arriving. Pure.

The page shows lateness and arrival live from the current estimate. A message, though, must
go once: ``mark_progress`` records the first time each moment is seen in the job itself
(``portal.late``, ``portal.arriving``), so the notification policy can announce the change
from unmarked to marked, and a replayed or duplicated webhook finds the mark already there.
Only a live estimate marks anything: a stale position proves nothing about now.

The clock alone marks lateness too: a job that is still not started (``NOT_STARTED``) once the
promised window has ended, plus ``LATE_CHECK_GRACE``, is late whatever the technician's phone
says, or does not say. ``late_check`` tells when to look (the decide step queues a delayed
outbox row for that moment) and ``mark_overdue`` is what the look records, with the same mark,
so a ping-driven and a clock-driven lateness announce one promise once between them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from portal.core.eta import DEFAULT_CONFIG, EtaConfig, arriving, for_job, late
from portal.core.jobs import Job, iso_utc, parse_iso

LATE = "portal.late"
ARRIVING = "portal.arriving"
# Statuses in which the visit has not started yet: past the window's end, the job is late.
NOT_STARTED = frozenset({"scheduled", "dispatched", "en_route"})
# How long after the window's end the clock declares a not-started job late: a technician who
# walks in on the minute, with the field system a moment behind, is not "running late".
LATE_CHECK_GRACE = timedelta(minutes=5)


def mark_progress(job: Job, now: datetime, config: EtaConfig = DEFAULT_CONFIG) -> Job:
    """``job`` with the late and arriving marks it has earned by ``now``; the input is not modified."""
    if job.status != "en_route":
        return job
    found = for_job(job, now, config)
    if found is None or found.stale:
        return job
    marks: dict[str, Any] = {}
    window = job.values.get("window")
    if isinstance(window, dict) and late(found, window) and late_key(job) != window["end"]:
        marks[LATE] = {"window_end": window["end"], "eta": iso_utc(found.at), "seen_at": iso_utc(now)}
    trip = _trip(job)
    if arriving(found, config) and arriving_key(job) != trip:
        marks[ARRIVING] = {"trip": trip, "seen_at": iso_utc(now)}
    if not marks:
        return job
    marked = job.copy()
    marked.values.update(marks)
    return marked


def _trip(job: Job) -> str:
    """One drive to the customer: the en_route status it belongs to, by its event time."""
    stamp = job.stamps.get("status")
    return stamp[0] if stamp else "-"


def late_key(job: Job | None) -> str | None:
    """The window end the job was marked late against, or None."""
    mark = job.values.get(LATE) if job is not None else None
    return str(mark["window_end"]) if isinstance(mark, dict) else None


def arriving_key(job: Job | None) -> str | None:
    """The trip the job was marked arriving on, or None."""
    mark = job.values.get(ARRIVING) if job is not None else None
    return str(mark["trip"]) if isinstance(mark, dict) else None


def _window_end(job: Job) -> str | None:
    window = job.values.get("window")
    return str(window["end"]) if isinstance(window, dict) and window.get("end") else None


def overdue(job: Job, now: datetime) -> bool:
    """Whether the promised window ended (plus the grace) while the visit has not started."""
    end = _window_end(job)
    return job.status in NOT_STARTED and end is not None and now >= parse_iso(end) + LATE_CHECK_GRACE


def mark_overdue(job: Job, now: datetime, config: EtaConfig = DEFAULT_CONFIG) -> Job:
    """``job`` marked late by the clock when it is ``overdue`` and not yet marked for this window.

    The mark carries a live estimate when there is one still ahead of ``now``, else no estimate
    (a silent technician's last position says nothing about when they will come).
    """
    end = _window_end(job)
    if end is None or not overdue(job, now) or late_key(job) == end:
        return job
    eta: str | None = None
    if job.status == "en_route":
        found = for_job(job, now, config)
        if found is not None and not found.stale and found.at > now:
            eta = iso_utc(found.at)
    marked = job.copy()
    marked.values[LATE] = {"window_end": end, "eta": eta, "seen_at": iso_utc(now), "by": "clock"}
    return marked


def late_check(before: Job | None, after: Job) -> tuple[str, datetime] | None:
    """(window end, when to look) when a change should arm a lateness check, else None.

    Armed when a not-started job gets a window, its window moves, or its status changes (which
    also arms jobs that were booked before the check existed); the caller's dedup key (per job
    and window end) keeps one check per promise. A moved window arms a check for the new end;
    the old one, when it falls due, finds another end and does nothing.
    """
    end = _window_end(after)
    if end is None or after.status not in NOT_STARTED or late_key(after) == end:
        return None
    if before is not None and before.status == after.status and _window_end(before) == end:
        return None
    return end, parse_iso(end) + LATE_CHECK_GRACE
