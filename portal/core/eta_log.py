"""The arrival ranges a customer was shown, kept with the job, so ETA accuracy can be measured. Pure.

A tracking page's estimate changes with every ping; the question staff ask afterwards is
"was the range we showed right?". So, while the technician drives, a few of the ranges shown
are recorded in the job itself under ``portal.eta_log``::

    {"trip": "<event time of the en_route status>",
     "shown": [{"lead": "first" | 30 | 20 | 15 | 10 | 5,
                "at": ISO, "start": ISO, "end": ISO,   # the estimate and its range, UTC
                "source": "field" | "route" | "position",
                "estimated"?: ISO,                     # the estimator's own answer, when calibration moved it
                "recorded_at": ISO}]}                  # when the page showed it

``lead`` ``first`` is the first live estimate of the trip; ``30``, ``20``, ``15``, ``10`` and
``5`` are the first estimate shown once the estimate itself said that many minutes or fewer
were left. Each entry is written once and never replaced, so a replayed ping changes nothing,
and the log stays at six entries however long the drive. A new trip (the job goes ``en_route``
again after a hold) starts a new log. Stale estimates are not recorded: the page shows them
as stale, not as a promise.

When the technician arrives (the change to ``in_progress``), ``judge`` compares the arrival
with the range shown 15 minutes before it, which is the ``15`` entry, or, on a trip that was
shorter than that from the start, the ``first`` one (CONTRACT §7, ETA accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from portal.core.eta import DEFAULT_CONFIG, HELD, Estimate, EtaConfig, displayed, held_of, trip_of
from portal.core.jobs import Job, iso_utc, parse_iso

ETA_LOG = "portal.eta_log"
FIRST = "first"
# Minutes before arrival at which the shown range is kept: 15 is the one accuracy is judged
# by (CONTRACT §7); the others let calibration see how the error shrinks on the way. They are
# five minutes apart up to 20 because calibrated pages use the range at every lead: once the
# estimate is moved by its median, the range judged at "15 minutes" rests on what the estimator
# said about 10 minutes out, and with samples only at 15 and 5 the range there was a guess
# between them (the straight line's share inside it was 69% instead of 80%, bench/eta_accuracy.py).
LEADS = (30, 20, 15, 10, 5)
JUDGED_LEAD = 15
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Judgement:
    """How one arrival compared with the range shown before it."""

    arrived_at: datetime
    within: bool  # the arrival fell inside the range (ends included)
    error_minutes: float  # |arrival - the estimate's ``at``|
    lead: str  # which entry was judged: "15" or "first"


def observe(job: Job, now: datetime, config: EtaConfig = DEFAULT_CONFIG) -> Job:
    """``job`` with the estimate shown at ``now`` recorded, when it earns an entry; else ``job`` itself.

    What is recorded is what the page shows (``core/public.py``): the same estimate (the road
    one when the job has a route, held while a later one stays inside the range shown, see
    ``eta.steadied``) and the same range (the calibrated one once there is one). The shown
    estimate is also kept under ``portal.eta_held`` for the next change to hold against.
    """
    if job.status != "en_route":
        return job
    shown = displayed(job, now, config)
    if shown is None or shown[0].stale:
        return job
    found, span = shown
    trip = trip_of(job)
    log = record(job.values.get(ETA_LOG), trip, found, span, now)
    held = held_of(found, span, trip, now)
    if log is None and held == job.values.get(HELD):
        return job
    after = job.copy()
    if log is not None:
        after.values[ETA_LOG] = log
    if held is not None:
        after.values[HELD] = held
    return after


def record(
    log: dict[str, Any] | None, trip: str, found: Estimate, shown: tuple[datetime, datetime], now: datetime
) -> dict[str, Any] | None:
    """The log with the estimate ``found`` and the range ``shown`` at ``now`` added; None when it earns no entry."""
    start, end = shown
    entry = {
        "at": iso_utc(found.at),
        "start": iso_utc(start),
        "end": iso_utc(end),
        "source": found.source,
        "recorded_at": iso_utc(now),
    }
    if found.estimated is not None:
        entry["estimated"] = iso_utc(found.estimated)  # before calibration moved it: what samples measure
    entries: list[dict[str, Any]] = list(log["shown"]) if isinstance(log, dict) and log.get("trip") == trip else []
    have = {e["lead"] for e in entries}
    left = found.at - now
    leads: list[str | int] = [FIRST] if FIRST not in have else []
    leads += [lead for lead in LEADS if lead not in have and left <= lead * MINUTE]
    if not leads:
        return None
    return {"trip": trip, "shown": entries + [{"lead": lead, **entry} for lead in leads]}


def judged_entry(log: dict[str, Any] | None) -> dict[str, Any] | None:
    """The range an arrival is judged by: the 15-minute one, else the first shown."""
    if not isinstance(log, dict):
        return None
    by_lead = {entry["lead"]: entry for entry in log.get("shown", [])}
    return by_lead.get(JUDGED_LEAD) or by_lead.get(FIRST)


def judge(log: dict[str, Any] | None, arrived_at: datetime) -> Judgement | None:
    """How an arrival at ``arrived_at`` compares with the range shown before it; None without one."""
    entry = judged_entry(log)
    if entry is None:
        return None
    within = parse_iso(entry["start"]) <= arrived_at <= parse_iso(entry["end"])
    error = abs((arrived_at - parse_iso(entry["at"])).total_seconds()) / 60
    return Judgement(arrived_at, within, error, str(entry["lead"]))


def arrival(before: Job | None, after: Job) -> Judgement | None:
    """The judgement a change makes when it is the technician's arrival (to ``in_progress``).

    The arrival time is the event time of the ``in_progress`` status, not when the portal heard it.
    """
    if after.status != "in_progress" or (before is not None and before.status == "in_progress"):
        return None
    stamp = after.stamps.get("status")
    if stamp is None:
        return None
    return judge(after.values.get(ETA_LOG), parse_iso(stamp[0]))
