"""What each write adds to the service statistics: counters by quarter hour. Pure.

Statistics over weeks must not read every job, so every write that changes a figure adds to
a counter named for it in the quarter hour (UTC) the fact happened in; a report sums the
quarter hours of its days. Quarter hours, because every time zone's offset is a whole number
of them, so a staff member's local day is always a run of whole buckets.

Counter names:

- ``jobs`` (first seen, at the event time of the first event), ``completed``, ``cancelled``
  (at the status's event time), ``reschedules`` (customer requests, when made);
- ``ratings``, ``rating_sum``, ``rating.<1-5>`` (a changed rating takes the old one back);
- ``arrivals``, ``eta_within``, ``eta_error.<tenths of a minute>`` (a histogram, so the median
  error comes out exact to six seconds), judged by ``core/eta_log.py`` at the arrival's time;
- ``eta_ratio.<source>.<lead>.<hundredths>``: each estimate recorded on the way to an arrival,
  by how wrong it turned out relative to its lead, at the arrival's time: what the calibrated
  ranges are built from (``core/calibration.py``);
- ``<channel>.sent``, ``<channel>.delivered``, ``<channel>.failed``, ``<channel>.error.<code>``
  (message statuses as they move: a message handed over counts as sent once, however it ends).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from portal.core import calibration, eta_log
from portal.core.jobs import Job, iso_utc, parse_iso

BUCKET_SECONDS = 15 * 60  # every UTC offset in use is a whole number of quarter hours
SENT_STATUSES = frozenset({"sent", "delivered"})
FAILED_STATUSES = frozenset({"failed", "undelivered"})
TENTHS = 10  # the ETA error histogram's resolution: a tenth of a minute
UNKNOWN_ERROR = "unknown"
MAX_ERROR_CODE = 32  # characters of a provider's error code kept as a counter name


class Tally(NamedTuple):
    bucket: int
    name: str
    amount: float


def bucket_of(moment: datetime | str) -> int:
    """The quarter hour a moment falls in, as a number (quarter hours since 1970, UTC)."""
    when = parse_iso(moment) if isinstance(moment, str) else moment
    return int(when.timestamp() // BUCKET_SECONDS)


def _at(moment: str) -> int:
    return bucket_of(moment)


def job_tallies(before: Job | None, after: Job, now: datetime) -> list[Tally]:
    """The counters a change to a job moves."""
    found: list[Tally] = []
    if before is None:
        first = min((stamp[0] for stamp in after.stamps.values()), default=iso_utc(now))
        found.append(Tally(_at(first), "jobs", 1))
    old_status = before.status if before is not None else None
    stamp = after.stamps.get("status")
    if after.status != old_status and after.status in ("completed", "cancelled") and stamp is not None:
        found.append(Tally(_at(stamp[0]), after.status, 1))
    request = after.values.get("portal.reschedule")
    old_request = before.values.get("portal.reschedule") if before is not None else None
    asked = request.get("requested_at") if isinstance(request, dict) else None
    asked_before = old_request.get("requested_at") if isinstance(old_request, dict) else None
    if asked and asked != asked_before:
        found.append(Tally(_at(str(asked)), "reschedules", 1))
    found += _rating_tallies(before.values.get("portal.rating") if before else None, after.values.get("portal.rating"))
    judged = eta_log.arrival(before, after)
    if judged is not None:
        at = bucket_of(judged.arrived_at)
        found.append(Tally(at, "arrivals", 1))
        found.append(Tally(at, "eta_error." + str(round(judged.error_minutes * TENTHS)), 1))
        if judged.within:
            found.append(Tally(at, "eta_within", 1))
        for sample in calibration.samples_of(after.values.get(eta_log.ETA_LOG), judged.arrived_at):
            name = calibration.tally_name(sample)
            if name is not None:
                found.append(Tally(at, name, 1))
    return found


def _rating_tallies(old: Any, new: Any) -> list[Tally]:
    if old == new:
        return []
    found: list[Tally] = []
    for rating, sign in ((old, -1), (new, 1)):
        if isinstance(rating, dict) and rating.get("at"):
            at, score = _at(str(rating["at"])), int(rating["score"])
            found += [
                Tally(at, "ratings", sign),
                Tally(at, "rating_sum", sign * score),
                Tally(at, f"rating.{score}", sign),
            ]
    return found


def message_tallies(channel: str, old: str | None, new: str | None, error: str | None, now: str) -> list[Tally]:
    """The counters a message's status moving from ``old`` to ``new`` moves."""
    if new is None or new == old:
        return []
    at = _at(now)
    found: list[Tally] = []
    if new in SENT_STATUSES and old not in SENT_STATUSES:
        found.append(Tally(at, f"{channel}.sent", 1))
    if new == "delivered" and old != "delivered":
        found.append(Tally(at, f"{channel}.delivered", 1))
    if new in FAILED_STATUSES and old not in FAILED_STATUSES:
        code = (error or UNKNOWN_ERROR).split(":")[0].strip()[:MAX_ERROR_CODE] or UNKNOWN_ERROR
        found += [Tally(at, f"{channel}.failed", 1), Tally(at, f"{channel}.error.{code}", 1)]
    return found
