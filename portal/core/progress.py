"""Moments worth a message while the technician drives: running late, arriving. Pure.

The page shows lateness and arrival live from the current estimate. A message, though, must
go once: ``mark_progress`` records the first time each moment is seen in the job itself
(``portal.late``, ``portal.arriving``), so the notification policy can announce the change
from unmarked to marked, and a replayed or duplicated webhook finds the mark already there.
Only a live estimate marks anything: a stale position proves nothing about now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from portal.core.eta import DEFAULT_CONFIG, EtaConfig, arriving, estimate, late
from portal.core.jobs import Job, iso_utc

LATE = "portal.late"
ARRIVING = "portal.arriving"


def mark_progress(job: Job, now: datetime, config: EtaConfig = DEFAULT_CONFIG) -> Job:
    """``job`` with the late and arriving marks it has earned by ``now``; the input is not modified."""
    if job.status != "en_route":
        return job
    found = estimate(job.values.get("eta"), job.location, job.address, now, config)
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
