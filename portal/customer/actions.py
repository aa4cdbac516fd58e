"""What a customer does through the portal: page forms and SMS replies, as atomic job changes.

Each action is one ``Portal.change``: the job's ``portal.*`` value, the live ``job`` event for
open pages and the callback row for the field system are written together, so a request is
never shown without being sent, or sent without being shown. The rules are pure
(``core/actions.py``); this module adds the form's CSRF token and the plumbing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from portal.core import actions
from portal.core.jobs import Job
from portal.core.plausible import ascii_score
from portal.core.public import live_events, utc_now
from portal.core.slots import NO_POLICY, SlotPolicy
from portal.notify.callbacks import callback
from portal.runtime import Portal
from portal.store.base import ChangeResult, Decision, JobRecord

FORM_SALT = "portal.tracking-form"
# A page left open for a week still submits; the link itself is the longer-lived credential.
FORM_TOKEN_MAX_AGE = 7 * 24 * 3600
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


class FormTokens:
    """CSRF tokens for the tracking page's forms, bound to the job's current link key.

    Signed with their own salt (links and sessions use others); a revoked link's key no
    longer matches, so its old pages cannot submit either.
    """

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        # itsdangerous signs with the last key; our setting lists the signing key first.
        self._serializer = URLSafeTimedSerializer(list(reversed(secret_keys)), salt=FORM_SALT)

    def issue(self, link_key: str) -> str:
        return str(self._serializer.dumps(link_key))

    def valid(self, link_key: str, token: object) -> bool:
        if not isinstance(token, str) or not token:
            return False
        try:
            return bool(self._serializer.loads(token, max_age=FORM_TOKEN_MAX_AGE) == link_key)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return False


async def apply_action(portal: Portal, job_id: str, kind: str, apply: Apply, *, key: str | None = None) -> ChangeResult:
    """Apply one customer action and queue its callback, in one transaction.

    ``apply`` may raise ``actions.Refused``: then nothing is written.
    """
    eta_config, slot_policy = portal.eta_config, portal.slot_policy

    def decide(before: Job | None) -> Decision:
        if before is None:
            raise actions.Refused("refused.unknown_job")
        now = utc_now()
        after, data = apply(before, now)
        item = callback(CALLBACK_TYPES[kind], data, job_id=job_id, at=now, key=key)
        events = live_events(before, after, now, eta_config, slot_policy)
        return Decision(job=after, events=events, outbox=[item])

    return await portal.change(job_id, decide)


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


async def submit_form(portal: Portal, record: JobRecord, kind: str, form: Mapping[str, Any]) -> None:
    """One tracking-page form: check its token, read it, apply it; FormRefused says why not."""
    if not FormTokens(portal.settings.secret_keys).valid(record.link_key, form.get("csrf_token")):
        raise FormRefused(403, "form.expired")
    apply = form_action(kind, form, portal.slot_policy)
    try:
        await apply_action(portal, record.job.id, kind, apply)
    except actions.Refused as refused:
        raise FormRefused(409, refused.key) from None


def page_context(portal: Portal, record: JobRecord, done: str | None) -> dict[str, Any]:
    """What the page's forms need: what is possible now, what is pending, the form token."""
    job, now = record.job, utc_now()
    values = job.values
    rating = values.get(actions.RATING)
    return {
        "csrf_token": FormTokens(portal.settings.secret_keys).issue(record.link_key),
        "can_cancel": actions.can_cancel(job),
        "cancel_request": values.get(actions.CANCEL),
        "can_note": actions.can_note(job),
        "notes": values.get(actions.NOTES) or [],
        "can_rate": actions.can_rate(job, now),
        "review_url": portal.settings.review_url if rating else None,
        "confirmation": CONFIRMATIONS.get(done or ""),
        "max_text": actions.MAX_TEXT,
    }
