"""What a customer may do to their job (reschedule, cancel, note, rate): pure rules over a Job.

Each function returns the job after the action and the ``data`` of the callback that tells
the field system (CONTRACT §4), or raises ``Refused``. Nothing here changes the job's own
fields: the portal keeps the customer's requests beside them under ``portal.*`` values, and
the field system decides (a ``job.updated`` with the new window, a ``cancelled`` status).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from portal.core.jobs import CLOSED_STATUSES, Job, iso_utc, parse_iso
from portal.core.public import RESCHEDULABLE, zone
from portal.core.slots import NO_POLICY, SlotPolicy, offered_slots

RESCHEDULE = "portal.reschedule"
CANCEL = "portal.cancel"
NOTES = "portal.notes"
RATING = "portal.rating"
# Once the technician is on the way, a cancellation is a phone call, not a form.
CANCELLABLE = frozenset({"created", "scheduled", "dispatched", "on_hold"})
NOTE_OPEN = frozenset(CANCELLABLE | {"en_route", "in_progress"})  # notes are for a visit still to come
RATING_CHANGE_WINDOW = timedelta(days=1)  # a second rating replaces the first only this long after it
MAX_NOTES = 20  # notes kept per job: plenty for gate codes and dogs, bounded against abuse
MAX_TEXT = 1000  # characters of a note, reason or comment: a text message's worth, several times over
SCORES = range(1, 6)


class Refused(Exception):
    """The action is not possible now; ``key`` names the catalogue text telling the customer why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def clean_text(raw: object, *, required: bool) -> str:
    """Trimmed text within ``MAX_TEXT``; ValueError when missing (if required) or too long."""
    text = str(raw or "").strip()
    if required and not text:
        raise ValueError("please write something first")
    if len(text) > MAX_TEXT:
        raise ValueError(f"please keep it under {MAX_TEXT} characters")
    return text


def can_cancel(job: Job) -> bool:
    return job.status in CANCELLABLE and job.values.get(CANCEL) is None


def can_note(job: Job) -> bool:
    return job.status in NOTE_OPEN


def can_rate(job: Job, now: datetime) -> bool:
    """Completed, and either not rated yet or rated less than a day ago (the rating may change)."""
    if job.status != "completed":
        return False
    rating = job.values.get(RATING)
    return rating is None or now - parse_iso(rating["at"]) <= RATING_CHANGE_WINDOW


def request_reschedule(
    job: Job, slot_start: str, channel: str, now: datetime, policy: SlotPolicy = NO_POLICY
) -> tuple[Job, dict[str, Any]]:
    """Ask for one of the slots offered now (``core/slots.py``), named by its ``start`` exactly as offered."""
    slots = offered_slots(job, now, policy, zone(job))
    waiting = job.values.get(RESCHEDULE) is not None or job.values.get(CANCEL) is not None
    if job.status not in RESCHEDULABLE or waiting or not slots:
        raise Refused("refused.cannot_move")
    slot = next((s for s in slots if s.get("start") == slot_start), None)
    if slot is None:
        raise Refused("refused.slot_gone")
    chosen = {"start": slot["start"], "end": slot["end"]}
    after = job.copy()
    after.values[RESCHEDULE] = {
        "slot": chosen,
        "channel": channel,
        "requested_at": iso_utc(now),
        "window_before": job.values.get("window"),
    }
    return after, {"job_id": job.id, "slot": chosen, "channel": channel}


def request_cancel(job: Job, reason: str, channel: str, now: datetime) -> tuple[Job, dict[str, Any]]:
    if not can_cancel(job):
        raise Refused("refused.cannot_cancel")
    after = job.copy()
    after.values[CANCEL] = {"reason": reason, "channel": channel, "requested_at": iso_utc(now)}
    return after, {"job_id": job.id, "reason": reason, "channel": channel}


def add_note(job: Job, text: str, channel: str, now: datetime) -> tuple[Job, dict[str, Any]]:
    if not can_note(job):
        raise Refused("refused.notes_closed")
    after = job.copy()
    notes = list(job.values.get(NOTES) or [])
    notes.append({"text": text, "channel": channel, "at": iso_utc(now)})
    after.values[NOTES] = notes[-MAX_NOTES:]
    return after, {"job_id": job.id, "text": text, "channel": channel}


def rate(job: Job, score: int, comment: str, channel: str, now: datetime) -> tuple[Job, dict[str, Any]]:
    if score not in SCORES:
        raise ValueError("a score is 1 to 5")
    if job.status != "completed":
        raise Refused("refused.not_completed")
    if not can_rate(job, now):
        raise Refused("refused.already_rated")
    after = job.copy()
    after.values[RATING] = {"score": score, "comment": comment, "channel": channel, "at": iso_utc(now)}
    return after, {"job_id": job.id, "score": score, "comment": comment, "channel": channel}


def settle_requests(after: Job) -> Job:
    """Clear requests the field system has answered: a moved window, or a closed job.

    A pending reschedule ends when the window changes (to the requested slot or any other:
    the field system's word wins) or the job is closed; a cancel request ends when the job
    is cancelled or completed. ``after`` is returned as is when nothing is pending.
    """
    pending = after.values.get(RESCHEDULE)
    cancel = after.values.get(CANCEL)
    if pending is None and cancel is None:
        return after
    closed = after.status in CLOSED_STATUSES
    window = after.values.get("window")
    moved = pending is not None and (
        _same_slot(window, pending["slot"]) or window != pending.get("window_before") or closed
    )
    if not moved and not (cancel is not None and closed):
        return after
    settled = after.copy()
    if moved:
        del settled.values[RESCHEDULE]
    if cancel is not None and closed:
        del settled.values[CANCEL]
    return settled


def _same_slot(window: dict[str, Any] | None, slot: dict[str, str]) -> bool:
    if not window:
        return False
    return parse_iso(window["start"]) == parse_iso(slot["start"]) and parse_iso(window["end"]) == parse_iso(slot["end"])
