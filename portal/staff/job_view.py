"""Everything staff see about one job, as plain data: the JSON API is exactly this document
and the job page renders it (times converted to the job's and the staff member's zones).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from portal.channels.record import SIMULATED
from portal.core.jobs import iso_utc, parse_iso
from portal.core.plausible import is_zone
from portal.core.public import STATUS_LABELS, zone
from portal.staff.errors import error_code, error_meaning
from portal.store.base import JobRecord, LinkKeyInfo, Message, OutboxRow

MESSAGE_STATUS_LABELS = {
    "queued": "Queued, not yet sent",
    "sent": "Sent to the carrier, no delivery report yet",
    "delivered": "Delivered",
    "failed": "Failed",
    "undelivered": "Not delivered",
    "received": "Received from the customer",
    "not_sent": "Not sent",
}
# Opt-outs and opt-ins are events in the thread, in words, beside the STOP or START that made them.
OPT_EVENTS = {
    "opt-out": "Opted out of text messages: no SMS goes to this number until it texts START.",
    "opt-in": "Opted back in to text messages.",
}
CUSTOMER_ACTIONS_PREFIX = "portal."  # values the portal itself adds: reschedule requests, notes, ratings
TIME_FORMAT = "%a %Y-%m-%d %H:%M %Z"


def tz_or_utc(name: str | None) -> ZoneInfo:
    return ZoneInfo(name if name and is_zone(name) else "UTC")


def in_zone(raw: str | None, zone_name: str | None) -> str:
    """An ISO time shown in a zone: ``Mon 2030-03-03 09:00 CST``; empty or unreadable stays as is."""
    if not raw:
        return ""
    try:
        moment = parse_iso(raw)
    except ValueError:
        return raw
    return moment.astimezone(tz_or_utc(zone_name)).strftime(TIME_FORMAT)


def link_state(record: JobRecord, history: list[LinkKeyInfo], now: datetime, ttl_days: int) -> dict[str, Any]:
    """``active`` or ``expired`` for the current link, with when earlier links were revoked."""
    closed = record.job.closed_at
    expires_at = iso_utc(parse_iso(closed) + timedelta(days=ttl_days)) if closed else None
    expired = expires_at is not None and now > parse_iso(expires_at)
    current = next((h for h in history if h.revoked_at is None), None)
    revoked = [{"issued_at": h.created_at, "revoked_at": h.revoked_at} for h in history if h.revoked_at]
    return {
        "state": "expired" if expired else "active",
        "issued_at": current.created_at if current else None,
        "expires_at": expires_at,
        "revoked": revoked,
    }


def job_document(
    record: JobRecord,
    messages: list[Message],
    history: list[LinkKeyInfo],
    outbox: list[OutboxRow],
    *,
    now: datetime,
    ttl_days: int,
    sms_opted_out: bool = False,
) -> dict[str, Any]:
    """CONTRACT §7: ``{"job": {...}, "timeline": [...], "messages": [...]}``."""
    job = record.job
    values = job.values
    location = {k: v for k, v in job.location.items() if k != "order"} if job.location else None
    customer = {**job.customer, "phone_e164": values.get("customer.phone_e164"), "sms_opted_out": sms_opted_out}
    summary = {
        "id": job.id,
        "reference": values.get("reference"),
        "status": job.status,
        "status_label": STATUS_LABELS.get(job.status, job.status),
        "status_reason": values.get("status_reason"),
        "service": values.get("service"),
        "timezone": zone(job).key,
        "window": values.get("window"),
        "customer": customer,
        "address": job.address,
        "technician": values.get("technician"),
        "notes": values.get("notes"),
        "invoice_url": values.get("invoice_url"),
        "eta": values.get("eta"),
        "location": location,
        "customer_actions": customer_actions(values),
        "link": link_state(record, history, now, ttl_days),
        "deliveries": [delivery_document(row) for row in outbox],
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }
    timeline = [{**step, "label": STATUS_LABELS.get(step["status"], step["status"])} for step in job.timeline]
    thread = sorted(messages, key=lambda m: (m.created_at, m.id))
    return {"job": summary, "timeline": timeline, "messages": [message_document(m) for m in thread]}


def customer_actions(values: dict[str, Any]) -> dict[str, Any]:
    """What the customer did through the portal (reschedule requests, notes, ratings, ...)."""
    prefix = CUSTOMER_ACTIONS_PREFIX
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}


def delivery_document(row: OutboxRow) -> dict[str, Any]:
    """An outbox row: a message waiting to go (or gone), or a callback to the field system."""
    payload = row.payload
    return {
        "kind": row.kind,
        "what": payload.get("message") or payload.get("type"),
        "to": payload.get("to"),
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at if row.state == "pending" else None,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def message_document(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "channel": m.channel,
        "direction": m.direction,
        "to": m.to_addr,
        "from": m.from_addr,
        "body": m.body,
        "status": m.status,
        "status_label": MESSAGE_STATUS_LABELS.get(m.status, m.status),
        "error": m.error,
        "simulated": m.error == SIMULATED,  # the demo's: shown as a note, not as a fault
        "event": OPT_EVENTS.get(str(m.meta.get("understood"))) if m.direction == "in" else None,
        "error_code": error_code(m.error),
        "error_meaning": error_meaning(m.error),
        "provider_id": m.provider_id,
        "attempts": m.meta.get("attempts"),
        "meta": m.meta,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }
