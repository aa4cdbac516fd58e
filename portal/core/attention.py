"""Which jobs need a person now, and why: the attention queue's rules. Pure.

The queue is kept as changes are written, never computed by scanning jobs: every write that
can raise or clear a reason asks this module what it does, and the store applies the answer
in the same transaction (``Flags``). Reasons (CONTRACT §7), most urgent first:

- ``late``: the job is marked running late (``core/trip.py``) and the visit has not started;
- ``cancel_pending`` / ``reschedule_pending``: a customer's request the field system has not
  answered within ``PENDING_AFTER``; raised at request time with ``since`` in the future, so it
  only shows once due, and cleared as soon as the field system answers;
- ``message_failed``: a message to the customer failed for good, or gave up;
- ``contact_invalid``: an open job with no usable phone number and no email address;
- ``customer_message``: an SMS the portal did not understand;
- ``low_rating``: a rating of 1 or 2.

A reason that describes the job's state (late, pending requests, contact, rating) is raised
when the state begins to hold and cleared when it stops; an acknowledgement by staff clears
what is raised now, and only a new occurrence (the state starting again, a new request, a new
failure) brings the job back. That is why ``job_flags`` compares before with after rather
than looking at after alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from portal.core.jobs import CLOSED_STATUSES, Job, iso_utc, parse_iso
from portal.core.trip import NOT_STARTED, late_key

# Most urgent first: the order of the queue and of each item's reasons.
REASONS = (
    "late",
    "cancel_pending",
    "reschedule_pending",
    "message_failed",
    "contact_invalid",
    "customer_message",
    "low_rating",
)
URGENCY = {reason: rank for rank, reason in enumerate(REASONS)}
# A request the field system has not confirmed within an hour needs a person (CONTRACT §7).
PENDING_AFTER = timedelta(minutes=60)
LOW_RATING_MAX = 2  # scores 1 and 2 (CONTRACT §7)
FAILED_STATUSES = frozenset({"failed", "undelivered"})
# Callbacks to the field system that are, at the same time, a reason for staff to look.
CALLBACK_REASONS = {"message.failed": "message_failed", "customer.message": "customer_message"}
PENDING = {"reschedule_pending": "portal.reschedule", "cancel_pending": "portal.cancel"}
S = TypeVar("S", str, int)  # a since: ISO text or integer microseconds, both in time order


@dataclass(frozen=True)
class Flag:
    """One reason raised for one job, due from ``since`` (UTC, ``iso_utc``)."""

    job_id: str
    reason: str
    since: str


@dataclass(frozen=True)
class Flags:
    """What one write does to the queue: reasons raised and (job id, reason) pairs cleared."""

    raised: tuple[Flag, ...] = ()
    cleared: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.raised or self.cleared)

    def __add__(self, other: Flags) -> Flags:
        return Flags(self.raised + other.raised, self.cleared + other.cleared)


@dataclass(frozen=True)
class Item:
    """One job in the queue: its reasons (most urgent first) and since when it has waited."""

    job_id: str
    reasons: tuple[str, ...]
    since: str
    reference: str | None = None
    details: dict[str, str] = field(default_factory=dict)  # reason -> its own since


def valid_email(raw: object) -> bool:
    """Exactly one plain address: no list, display name or line break (CONTRACT §3)."""
    if not isinstance(raw, str) or raw.count("@") != 1:
        return False
    return not any(ch.isspace() or ch in ',;<>"' for ch in raw) and all(raw.split("@"))


def standing(job: Job | None) -> dict[str, tuple[str, str]]:
    """The state reasons that hold for ``job``: reason -> (occurrence, since).

    ``occurrence`` tells one occurrence from the next (a second request, another window).
    """
    if job is None:
        return {}
    found: dict[str, tuple[str, str]] = {}
    values = job.values
    mark = values.get("portal.late")
    if job.status in NOT_STARTED and isinstance(mark, dict) and _window_end(job) == late_key(job):
        found["late"] = (str(mark["window_end"]), str(mark["seen_at"]))
    for reason, key in PENDING.items():
        request = values.get(key)
        if isinstance(request, dict) and request.get("requested_at"):
            asked = str(request["requested_at"])
            found[reason] = (asked, iso_utc(parse_iso(asked) + PENDING_AFTER))
    reachable = values.get("customer.phone_e164") or valid_email(job.customer.get("email"))
    if job.status not in CLOSED_STATUSES and not reachable:
        found["contact_invalid"] = ("-", "")
    rating = values.get("portal.rating")
    if isinstance(rating, dict) and int(rating.get("score", 5)) <= LOW_RATING_MAX:
        found["low_rating"] = (str(rating["at"]), str(rating["at"]))
    return found


def _window_end(job: Job) -> str | None:
    window = job.values.get("window")
    return str(window["end"]) if isinstance(window, dict) and window.get("end") else None


def job_flags(before: Job | None, after: Job, now: datetime) -> Flags:
    """Reasons a change to a job raises (newly holding) and clears (no longer holding)."""
    old, new = standing(before), standing(after)
    stamp = iso_utc(now)
    raised = tuple(
        Flag(after.id, reason, since or stamp)
        for reason, (occurrence, since) in new.items()
        if reason not in old or old[reason][0] != occurrence
    )
    cleared = tuple((after.id, reason) for reason in old if reason not in new)
    return Flags(raised, cleared)


def callback_flags(job_id: str | None, payload: dict[str, Any], now: str) -> Flags:
    """The reason a newly queued callback raises: a failed message, an SMS not understood."""
    reason = CALLBACK_REASONS.get(str(payload.get("type")))
    if job_id is None or reason is None:
        return Flags()
    return Flags((Flag(job_id, reason, now),))


def status_flags(job_id: str | None, old: str | None, new: str | None, now: str) -> Flags:
    """A delivery report that a sent message failed after all raises ``message_failed``."""
    if job_id is None or new not in FAILED_STATUSES or old in FAILED_STATUSES:
        return Flags()
    return Flags((Flag(job_id, "message_failed", now),))


def ranked(rows: Iterable[tuple[str, str, S]]) -> list[tuple[str, dict[str, S]]]:
    """Due (job id, reason, since) rows grouped per job, most urgent reason first, then longest waiting.

    ``since`` is whatever orders like time (ISO text, or a store's integer microseconds), so a
    store can rank thousands of waiting jobs and turn only the page it shows into ``Item``s.
    """
    by_job: dict[str, dict[str, S]] = {}
    for job_id, reason, since in rows:
        if reason in URGENCY:  # a reason from a newer version is left for that version to show
            by_job.setdefault(job_id, {})[reason] = since
    keys = [
        (min(URGENCY[reason] for reason in reasons), min(reasons.values()), job_id)
        for job_id, reasons in by_job.items()
    ]
    keys.sort()
    return [(job_id, by_job[job_id]) for _, _, job_id in keys]


def item_of(job_id: str, reasons: dict[str, str]) -> Item:
    """One job's queue entry from its due reasons and since when each holds."""
    return Item(job_id, tuple(sorted(reasons, key=URGENCY.__getitem__)), min(reasons.values()), details=reasons)


def queue_order(rows: Iterable[tuple[str, str, str]]) -> list[Item]:
    """Items from due (job id, reason, since) rows: most urgent reason first, then longest waiting."""
    return [item_of(job_id, reasons) for job_id, reasons in ranked(rows)]
