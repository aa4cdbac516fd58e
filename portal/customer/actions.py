"""What a customer does through the portal: page forms and SMS replies, as atomic job changes.

Each action is one ``JobChanges.change``: the job's ``portal.*`` value, the live ``job`` event for
open pages and the callback row for the field system are written together, so a request is
never shown without being sent, or sent without being shown. The rules are pure
(``core/actions.py``); this module adds the form's CSRF token (``links.FormTokens``) and the plumbing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from portal.core import actions
from portal.core.jobs import Job
from portal.core.plausible import ascii_score
from portal.core.slots import NO_POLICY, SlotPolicy
from portal.links import FormTokens
from portal.notify.callbacks import callback
from portal.notify.changes import JobChanges
from portal.store.base import ChangeResult, Decision, JobRecord

PAGE_ACTIONS = ("reschedule", "cancel", "note", "rating")
CALLBACK_TYPES = {
    "reschedule": "reschedule.requested",
    "cancel": "cancel.requested",
    "note": "customer.note",
    "rating": "rating.submitted",
    "message": "customer.message",
    "opt_out": "customer.opted_out",
    "opt_in": "customer.opted_in",
}
# What the page says after each action (``?done=``): fixed texts, never echoed input.
CONFIRMATIONS = {
    "reschedule": "Thanks. We have asked to move your visit and will confirm the new time.",
    "cancel": "Thanks. We have passed on your request to cancel and will confirm it.",
    "note": "Thanks. Your note is on its way to your technician.",
    "rating": "Thank you for your rating.",
}

Apply = Callable[[Job, datetime], tuple[Job, dict[str, Any]]]


class FormRefused(Exception):
    """403 bad form token, 400 unreadable fields, 409 not possible any more.

    ``key`` and ``values`` name the catalogue text saying why, in the customer's language.
    """

    def __init__(self, status: int, key: str, **values: object) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.values = values


async def apply_action(
    changes: JobChanges, job_id: str, kind: str, apply: Apply, *, key: str | None = None
) -> ChangeResult:
    """Apply one customer action and queue its callback, in one transaction.

    ``apply`` may raise ``actions.Refused``: then nothing is written.
    """

    def decide(before: Job | None) -> Decision:
        if before is None:
            raise actions.Refused("refused.unknown_job")
        now = changes.clock()
        after, data = apply(before, now)
        item = callback(CALLBACK_TYPES[kind], data, job_id=job_id, at=now, key=key)
        return Decision(job=after, events=changes.live_events(before, after, now), outbox=[item])

    return await changes.change(job_id, decide)


def _text(form: Mapping[str, Any], name: str, *, required: bool) -> str:
    try:
        return actions.clean_text(form.get(name), required=required)
    except ValueError:
        if str(form.get(name) or "").strip():
            raise FormRefused(400, "form.too_long", limit=actions.MAX_TEXT) from None
        raise FormRefused(400, "form.empty") from None


def _score(form: Mapping[str, Any]) -> int:
    score = ascii_score(str(form.get("score") or ""), min(actions.SCORES), max(actions.SCORES))
    if score is None:
        raise FormRefused(400, "form.score")
    return score


def form_action(kind: str, form: Mapping[str, Any], slot_policy: SlotPolicy = NO_POLICY) -> Apply:
    """The page form's fields as an action; FormRefused(400) when they cannot be read."""
    channel = "web"
    if kind == "reschedule":
        slot = str(form.get("slot") or "")
        return lambda job, now: actions.request_reschedule(job, slot, channel, now, slot_policy)
    if kind == "cancel":
        reason = _text(form, "reason", required=False)
        return lambda job, now: actions.request_cancel(job, reason, channel, now)
    if kind == "note":
        text = _text(form, "text", required=True)
        return lambda job, now: actions.add_note(job, text, channel, now)
    if kind == "rating":
        score, comment = _score(form), _text(form, "comment", required=False)
        return lambda job, now: actions.rate(job, score, comment, channel, now)
    raise FormRefused(404, "form.no_action")


class PageForms:
    """The tracking page's forms: their tokens, what they may do now, and submitting them."""

    def __init__(self, changes: JobChanges, tokens: FormTokens, review_url: str | None) -> None:
        self.changes = changes
        self.tokens = tokens
        self.review_url = review_url

    async def submit(self, record: JobRecord, kind: str, form: Mapping[str, Any]) -> None:
        """One tracking-page form: check its token, read it, apply it; FormRefused says why not."""
        if not self.tokens.valid(record.link_key, form.get("csrf_token")):
            raise FormRefused(403, "form.expired")
        apply = form_action(kind, form, self.changes.slot_policy)
        try:
            await apply_action(self.changes, record.job.id, kind, apply)
        except actions.Refused as refused:
            raise FormRefused(409, refused.key) from None

    def context(self, record: JobRecord, done: str | None) -> dict[str, Any]:
        """What the page's forms need: what is possible now, what is pending, the form token."""
        job, now = record.job, self.changes.clock()
        values = job.values
        rating = values.get(actions.RATING)
        return {
            "csrf_token": self.tokens.issue(record.link_key),
            "can_cancel": actions.can_cancel(job),
            "cancel_request": values.get(actions.CANCEL),
            "can_note": actions.can_note(job),
            "notes": values.get(actions.NOTES) or [],
            "can_rate": actions.can_rate(job, now),
            "review_url": self.review_url if rating else None,
            "confirmation": CONFIRMATIONS.get(done or ""),
            "max_text": actions.MAX_TEXT,
        }
