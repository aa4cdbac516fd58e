"""Inbound SMS: match the sender to their jobs, read the reply, act on it, answer it.

``handle_inbound_sms`` is the whole conversation for one message, whoever delivers it: the
Twilio webhook (``receive_twilio_sms`` checks its signature first) or the demo phone page.
The reading is pure (``core/replies.py``); here the sender's jobs and the conversation state
come from the store, each understood action becomes an atomic job change with its callback
(``customer.actions.apply_action``) or opt-out through ``JobChanges``, and every message is
kept in the history with what was understood, for staff. The answer is plain text; the web
edge wraps it in TwiML.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from portal.core import actions
from portal.core.jobs import Job, iso_utc, normalize_phone, parse_iso
from portal.core.public import RESCHEDULABLE, local_iso, zone
from portal.core.replies import RATING_WINDOW, Action, JobContext, Outcome, understand
from portal.core.slots import SlotPolicy, offered_slots
from portal.customer.actions import Apply, apply_action
from portal.customer.delivery_reports import TwilioSignature
from portal.notify.callbacks import opt_out_callback
from portal.notify.changes import JobChanges
from portal.notify.render import MessageRenderer, RenderError, short_day
from portal.settings import Settings
from portal.store.base import JobRecord, Message, Store

log = logging.getLogger("portal.customer.conversation")

# A number's most recently changed jobs considered: its open visits and those just finished.
RECENT_JOBS = 10
REPLY_PREFIX = "reply_"  # reply templates: templates/messages/sms/<locale>/reply_<answer>.txt
MAX_BODY_CHARS = 1600  # Twilio's own limit for one (concatenated) message
DELIVERY_PREFIX = "twilio-sms:"  # inbound MessageSids share the webhook-id records, kept apart by this


class ForgedRequest(Exception):
    """The request does not carry Twilio's signature: answer 403 and change nothing."""


@functools.lru_cache(maxsize=4)
def _renderer(settings: Settings) -> MessageRenderer:
    return MessageRenderer(settings)


class Conversation:
    """Inbound SMS, with the store it reads, the changes it makes and the settings it answers by."""

    def __init__(self, store: Store, changes: JobChanges, settings: Settings) -> None:
        self.store = store
        self.changes = changes
        self.settings = settings
        self.signature = TwilioSignature(settings.twilio_auth_token)

    async def receive_twilio_sms(self, url: str, params: Mapping[str, Any], signature: str | None) -> str | None:
        """Our reply to one inbound SMS webhook (None for none); ForgedRequest when Twilio did not sign it."""
        if not self.signature.valid(url, params, signature):
            raise ForgedRequest
        sender = str(params.get("From") or "")
        body = str(params.get("Body") or "")[:MAX_BODY_CHARS]
        sid = str(params.get("MessageSid") or params.get("SmsSid") or "") or None
        if sid is not None and not await self.store.claim_delivery_id(DELIVERY_PREFIX + sid):
            # Twilio sends a message again when our answer did not reach it: answer the same way,
            # but record and act on it once.
            return await self._earlier_reply(sender, sid)
        return await self.handle_inbound_sms(sender, body, sid)

    async def _earlier_reply(self, sender: str, sid: str) -> str | None:
        """The reply given the first time a message came, from its place in the history."""
        phone = normalize_phone(sender, self.settings.default_region) or sender.strip()
        for record in await self.store.jobs_by_phone(phone, RECENT_JOBS):
            for message in await self.store.list_messages(record.job.id):
                if message.direction == "in" and (message.meta or {}).get("message_sid") == sid:
                    reply = message.meta.get("reply")
                    return str(reply) if reply else None
        return None

    async def handle_inbound_sms(self, from_number: str, body: str, message_sid: str | None) -> str | None:
        """Understand and act on one SMS from ``from_number``; return our reply, None for none."""
        now = self.changes.clock()
        store, settings, slot_policy = self.store, self.settings, self.changes.slot_policy
        phone = normalize_phone(from_number, settings.default_region) or from_number.strip()
        records = [r for r in await store.jobs_by_phone(phone, RECENT_JOBS) if _relevant(r.job, now)]
        jobs = [_context(r.job, now, slot_policy) for r in records]
        outcome = understand(body, jobs, await store.get_conversation(phone), now)
        done: list[dict[str, Any]] = []
        answer = outcome.answer
        for action in outcome.actions:
            result = await self._act(phone, action, records, message_sid)
            done.append({"kind": action.kind, "job_id": action.job_id or _first_id(records), "result": result})
            if result == "refused" and action.kind == "reschedule":
                answer = "no_slots"
        await store.set_conversation(phone, outcome.state, iso_utc(now))
        job = _job_of(outcome, records)
        reply = _reply(settings, answer, outcome, job)
        meta = {
            "understood": outcome.understood,
            "answer": answer,
            "actions": done,
            "reply": reply,
            "message_sid": message_sid,
        }
        stamp = iso_utc(now)
        message = Message(
            id=0,
            job_id=job.id if job else None,
            channel="sms",
            direction="in",
            to_addr=settings.twilio_from,
            from_addr=phone,
            body=body,
            status="received",
            provider_id=None,  # the sid is in meta: a retried webhook must not collide with the first
            error=None,
            meta=meta,
            created_at=stamp,
            updated_at=stamp,
        )
        await store.add_message(message)
        if reply:
            # The answer goes back inside the TwiML response, so Twilio sends it: kept in the
            # thread as the portal's own message, sent (no provider id or delivery report).
            answered = replace(
                message,
                direction="out",
                to_addr=phone,
                from_addr=settings.twilio_from,
                body=reply,
                status="sent",
                meta={"twiml_reply_to": message_sid},
            )
            await store.add_message(answered)
        return reply

    async def _act(self, phone: str, action: Action, records: list[JobRecord], sid: str | None) -> str:
        """Carry out one understood action; return ``done``, ``refused`` or ``recorded``."""
        key = f"sms:{sid}" if sid else None
        changes = self.changes
        if action.kind in ("opt_out", "opt_in"):
            # The opt-out and its callback are one write: a crash in between would lose the callback.
            now, job_id = changes.clock(), _first_id(records)
            # No job: the field system has no customer with this number to tell about.
            told = () if job_id is None else (opt_out_callback(phone, action.kind, job_id=job_id, at=now, key=key),)
            await changes.opt_out(phone, action.kind == "opt_out", "sms", now, told)
            return "done" if told else "recorded"
        job_id = action.job_id
        if job_id is None:
            return "recorded"
        try:
            await apply_action(changes, job_id, action.kind, _sms_action(action, changes.slot_policy), key=key)
        except actions.Refused:
            return "refused"
        return "done"


def _relevant(job: Job, now: datetime) -> bool:
    """Open visits, and visits completed recently enough to be rated by text."""
    if job.status not in ("completed", "cancelled"):
        return True
    closed = job.closed_at
    return job.status == "completed" and closed is not None and now - parse_iso(closed) <= RATING_WINDOW


def _context(job: Job, now: datetime, slot_policy: SlotPolicy) -> JobContext:
    values = job.values
    slots = offered_slots(job, now, slot_policy, zone(job))
    pending = values.get(actions.RESCHEDULE)
    open_to_move = job.status in RESCHEDULABLE and pending is None and values.get(actions.CANCEL) is None
    window = values.get("window")
    closed = job.closed_at
    return JobContext(
        job_id=job.id,
        reference=str(values.get("reference") or job.id),
        status=job.status,
        slots=slots if open_to_move else [],
        completed_at=parse_iso(closed) if closed and job.status == "completed" else None,
        # The page lets a rating change for a day; a text does the same.
        rated=job.status == "completed" and not actions.can_rate(job, now),
        summary=short_day(local_iso(window["start"], zone(job))) if window else "",
        pending_slot=pending["slot"] if pending else None,
    )


def _first_id(records: list[JobRecord]) -> str | None:
    return records[0].job.id if records else None


def _sms_action(action: Action, policy: SlotPolicy) -> Apply:
    data = action.data
    if action.kind == "reschedule":
        start = str(data["slot"]["start"])
        return lambda job, now: actions.request_reschedule(job, start, "sms", now, policy)
    if action.kind == "rating":
        # A text may be longer than a page comment may: keep its first MAX_TEXT characters.
        score, comment = int(data["score"]), str(data.get("comment") or "").strip()[: actions.MAX_TEXT]
        return lambda job, now: actions.rate(job, score, comment, "sms", now)
    text = str(data.get("text") or "")
    return lambda job, now: (job, {"job_id": job.id, "text": text})


def _job_of(outcome: Outcome, records: list[JobRecord]) -> Job | None:
    """The job a message belongs to in the history: the one acted on, else the most recent."""
    asked = (outcome.state or {}).get("job_id")
    wanted = next((a.job_id for a in outcome.actions if a.job_id), None) or asked
    for record in records:
        if record.job.id == wanted:
            return record.job
    return records[0].job if records else None


def _reply(settings: Settings, answer: str | None, outcome: Outcome, job: Job | None) -> str | None:
    if answer is None:
        return None
    tz = zone(job) if job is not None else None

    def local(slot: dict[str, str]) -> dict[str, str]:
        if tz is None:
            return slot
        return {"start": local_iso(slot["start"], tz), "end": local_iso(slot["end"], tz)}

    data = outcome.answer_data
    context = {
        **data,
        "slots": [local(s) for s in data.get("slots", [])],
        "slot": local(data["slot"]) if "slot" in data else None,
        "choices": data.get("choices", []),
        "reference": data.get("reference") or (job.values.get("reference") or job.id if job else None),
        "review_url": settings.review_url,
    }
    locale = job.customer.get("locale") if job is not None else None
    try:
        return _renderer(settings).render("sms", REPLY_PREFIX + answer, locale, context).body
    except RenderError:
        log.exception("cannot render the SMS reply %r; answering without text", answer)
        return None
