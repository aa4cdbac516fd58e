"""The SMS reply grammar and conversation: pure, so every case is a line in a table test.

What a customer may text (case and spacing ignored):

| text | meaning |
|---|---|
| `STOP`, `STOPALL`, `UNSUBSCRIBE`, `CANCEL`, `END`, `QUIT` | opt out of SMS; no reply of ours (Twilio answers) |
| `START`, `UNSTOP`, `YES` | opt back in; no reply of ours |
| `HELP`, `INFO` (`AYUDA`) | a short help text |
| `R`, `RESCHEDULE` (`REPROGRAMAR`, `CAMBIAR`) | up to 3 numbered slots; a number then requests that slot |
| `R` while a requested time waits for confirmation | says it is waiting (and the support phone) |
| `1`-`5` (after a rating request), optionally followed by a comment | the rating (again within a day: replaces it) |
| a number while we asked "which visit?" | picks the visit, then carries on with what was asked |
| anything else | kept, passed on to the field system as `customer.message`, acknowledged |

`CANCEL` is an opt-out word everywhere in SMS, so it never cancels a visit.

The sender is matched to the most recent open job for the number; with several open jobs
the answer asks which, by reference. Conversation state (what we last asked) is kept per
phone number and expires, so a stray digit days later is not taken as an answer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO", "AYUDA"})  # Spanish customers get the same answers
RESCHEDULE = frozenset({"R", "RESCHEDULE", "REPROGRAMAR", "CAMBIAR"})
MAX_SLOTS_OFFERED = 3  # what fits one SMS and one glance
CONVERSATION_TTL = timedelta(hours=24)  # a question older than a day is no longer pending
RATING_WINDOW = timedelta(days=7)  # a digit counts as a rating this long after completion
_RATING = re.compile(r"^([1-5])(?!\d)(?:\s*(?:/\s*5|stars?|star)\b)?[\s,.:;!-]*(.*)$", re.IGNORECASE | re.DOTALL)
_NUMBER = re.compile(r"^#?\s*(\d{1,2})\s*[.)!]?$")


@dataclass(frozen=True)
class JobContext:
    """What the grammar needs to know about one of the sender's jobs."""

    job_id: str
    reference: str
    status: str
    slots: list[dict[str, str]] = field(default_factory=list)
    completed_at: datetime | None = None
    rated: bool = False  # rated for good: a rating may still change a day after it was given
    summary: str = ""  # e.g. "Water heater repair, Tue 9-11"; shown when asking which visit
    pending_slot: dict[str, str] | None = None  # a reschedule requested and not yet confirmed

    @property
    def open(self) -> bool:
        return self.status not in ("completed", "cancelled")


@dataclass(frozen=True)
class Action:
    """Something the reply causes: a callback to the field system, an opt-out, a rating..."""

    kind: str  # reschedule, rating, message, opt_out, opt_in
    job_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    understood: str  # how the message was read, shown to staff
    answer: str | None  # the key of the reply text, None for no reply at all
    answer_data: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    state: dict[str, Any] | None = None  # the conversation after this message


def normalize(text: str) -> str:
    """Upper case, single spaces, no emoji or symbols around the words."""
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(ch if unicodedata.category(ch)[0] in "LNZP" else " " for ch in text)
    return " ".join(kept.split()).upper()


def keyword(text: str) -> str:
    """The message as a keyword: carriers match the whole trimmed message, punctuation aside."""
    return normalize(text).strip(".!?,;:-'\" ")


def _pending(state: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    if not state:
        return None
    if datetime.fromisoformat(state["at"]) + CONVERSATION_TTL < now:
        return None
    return state


def understand(text: str, jobs: list[JobContext], state: dict[str, Any] | None, now: datetime) -> Outcome:
    """Read one inbound SMS from a number whose jobs (most recent first) are ``jobs``."""
    word = keyword(text)
    if word in OPT_OUT:
        return Outcome("opt-out", None, actions=[Action("opt_out", None)])
    if word in OPT_IN:
        return Outcome("opt-in", None, actions=[Action("opt_in", None)])
    if word in HELP:
        return Outcome("help", "help")
    pending = _pending(state, now)
    if word in RESCHEDULE:
        return _reschedule(jobs, now)
    number = _NUMBER.match(word)
    if pending and number:
        answered = _answer(pending, int(number.group(1)), jobs, now)
        if answered is not None:
            return answered
    rating = _rating(text, jobs, now)
    if rating is not None:
        return rating
    target = _open_jobs(jobs)[:1] or jobs[:1]
    job_id = target[0].job_id if target else None
    return Outcome("message", "thanks", actions=[Action("message", job_id, {"text": text.strip()})])


def _open_jobs(jobs: list[JobContext]) -> list[JobContext]:
    return [job for job in jobs if job.open]


def _state(kind: str, now: datetime, **data: Any) -> dict[str, Any]:
    return {"awaiting": kind, "at": now.isoformat(), **data}


def _reschedule(jobs: list[JobContext], now: datetime, chosen: JobContext | None = None) -> Outcome:
    candidates = [chosen] if chosen else _open_jobs(jobs)
    if not candidates:
        return Outcome("reschedule: no open visit", "no_open_job")
    if len(candidates) > 1:
        choices = [{"job_id": j.job_id, "reference": j.reference, "summary": j.summary} for j in candidates[:9]]
        return Outcome(
            "reschedule: which visit?",
            "which_job",
            {"choices": choices},
            state=_state("job", now, then="reschedule", choices=[c["job_id"] for c in choices]),
        )
    job = candidates[0]
    if job.pending_slot is not None:
        data = {"reference": job.reference, "slot": job.pending_slot}
        return Outcome("reschedule: a request is already waiting", "reschedule_pending", data)
    slots = job.slots[:MAX_SLOTS_OFFERED]
    if not slots:
        return Outcome("reschedule: no slots to offer", "no_slots", {"reference": job.reference})
    return Outcome(
        "reschedule: slots offered",
        "slots",
        {"reference": job.reference, "slots": slots},
        state=_state("slot", now, job_id=job.job_id, slots=slots),
    )


def _answer(pending: dict[str, Any], number: int, jobs: list[JobContext], now: datetime) -> Outcome | None:
    if pending["awaiting"] == "slot":
        slots = pending["slots"]
        if not any(job.job_id == pending["job_id"] and job.open for job in jobs):
            # The visit closed, or left this number, since the slots were offered: nothing to move.
            return Outcome(f"slot {number}: the visit is no longer open", "no_open_job")
        if not 1 <= number <= len(slots):
            return Outcome(f"slot {number}: not offered", "slot_unknown", {"count": len(slots)}, state=pending)
        slot = slots[number - 1]
        action = Action("reschedule", pending["job_id"], {"slot": slot})
        return Outcome(f"reschedule to slot {number}", "reschedule_requested", {"slot": slot}, [action])
    if pending["awaiting"] == "job":
        choices = pending["choices"]
        if not 1 <= number <= len(choices):
            return None
        chosen = next((j for j in jobs if j.job_id == choices[number - 1]), None)
        if chosen is None:
            return None
        return _reschedule(jobs, now, chosen)
    return None


def _rating(text: str, jobs: list[JobContext], now: datetime) -> Outcome | None:
    """A digit 1-5 counts as a rating for a recently completed, not yet rated visit."""
    match = _RATING.match(" ".join(text.split()))
    if match is None:
        return None
    job = next(
        (
            j
            for j in jobs
            if j.status == "completed" and j.completed_at and now - j.completed_at <= RATING_WINDOW and not j.rated
        ),
        None,
    )
    if job is None:
        return None
    score, comment = int(match.group(1)), match.group(2).strip()
    action = Action("rating", job.job_id, {"score": score, "comment": comment})
    return Outcome(f"rating {score}", "rating_thanks", {"score": score}, [action])
