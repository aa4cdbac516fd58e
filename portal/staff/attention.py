"""The attention queue's service: the queue as staff see it, acknowledging, and its live stream.

The queue itself is kept by the store as changes are written (``core/attention.py``,
``store/insight.py``); this module reads it, says how long each job has waited, and streams
it to open pages. The stream waits on the staff bus channel (every write that raises or
clears a reason publishes there) and on one timer for the next reason raised for later (an
unanswered request falling due): no polling, and a lost bus message is made good by the
next one or by a reconnect, since every message carries the whole queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Protocol, cast

from portal.bus.base import Bus
from portal.clock import utc_now
from portal.core.attention import Item
from portal.core.jobs import iso_utc, parse_iso
from portal.metrics import Metrics
from portal.notify.changes import STAFF_CHANNEL, JobChanges
from portal.store.base import AuditEntry, Store
from portal.store.insight import ATTENTION_PAGE, InsightStore

REASON_LABELS = {
    "late": "Running late",
    "cancel_pending": "Cancellation not confirmed",
    "reschedule_pending": "New time not confirmed",
    "message_failed": "Message failed",
    "contact_invalid": "No usable phone or email",
    "customer_message": "Text not understood",
    "low_rating": "Low rating",
}
REASON_HELP = {
    "late": "The technician is running late or the window passed without arrival.",
    "cancel_pending": "The customer asked to cancel over an hour ago; the field system has not confirmed.",
    "reschedule_pending": "The customer asked for a new time over an hour ago; the field system has not confirmed.",
    "message_failed": "A message to the customer failed for good or gave up.",
    "contact_invalid": "The job has no phone number that can be texted and no email address.",
    "customer_message": "The customer sent a text the portal did not understand.",
    "low_rating": "The customer rated the visit 1 or 2 out of 5.",
}
# A stream ends after this long and the page's EventSource reconnects, passing the console's
# guard again: a signed-out or expired session stops receiving the queue within this time.
STREAM_LIFETIME_SECONDS = 10 * 60.0  # 10 minutes
DUE_SLACK_SECONDS = 0.5  # wake just after a reason falls due, so the store already counts it as due


class Parts(Protocol):
    """What the queue uses of the running portal: named, so this module never needs the runtime."""

    store: Store
    bus: Bus
    metrics: Metrics
    changes: JobChanges


def store_of(portal: Parts) -> InsightStore:
    """The store in its insight role (every backend implements it)."""
    return cast(InsightStore, portal.store)


def waited(since: str, now: datetime) -> str:
    """How long an item has waited, in words: ``4 min``, ``2 h 5 min``, ``3 days``."""
    minutes = max(0, int((now - parse_iso(since)).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} days"


def item_document(item: Item, now: datetime) -> dict[str, Any]:
    """CONTRACT §7 ``{"job_id", "reference", "reasons", "since"}``, with what a page shows."""
    return {
        "job_id": item.job_id,
        "reference": item.reference or item.job_id,
        "reasons": list(item.reasons),
        "since": item.since,
        "waited": waited(item.since, now),
        "labels": [REASON_LABELS[reason] for reason in item.reasons],
    }


async def queue(portal: Parts, limit: int = ATTENTION_PAGE) -> dict[str, Any]:
    """``{"items": [...], "total": n, "at": now}``: most urgent first, at most ``limit`` items."""
    now = utc_now()
    items, total = await store_of(portal).attention(iso_utc(now), limit)
    return {"items": [item_document(item, now) for item in items], "total": total, "at": iso_utc(now)}


async def for_job(portal: Parts, job_id: str) -> dict[str, Any] | None:
    """The job's reasons due now, as the queue shows them, for its job page; None when it needs nothing."""
    now = utc_now()
    item = await store_of(portal).job_attention(job_id, iso_utc(now))
    if item is None:
        return None
    document = item_document(item, now)
    document["help"] = [REASON_HELP[reason] for reason in item.reasons]
    return document


async def acknowledge(portal: Parts, job_id: str, staff: str, client: str) -> list[str]:
    """Clear the job's current reasons (audited as ``acknowledge``); the reasons cleared."""
    now = iso_utc(utc_now())
    entry = AuditEntry(at=now, username=staff, action="acknowledge", job_id=job_id, client=client)
    cleared = await store_of(portal).acknowledge(job_id, now, entry)
    if cleared:
        await portal.changes.nudge_staff()
    return cleared


async def stream(portal: Parts) -> AsyncIterator[dict[str, Any]]:
    """The whole queue now, then again whenever it changes (the web edge frames each as a ``queue`` event)."""
    subscription = portal.bus.subscribe(STAFF_CHANNEL)
    portal.metrics.sse_open.inc()
    ends = asyncio.get_running_loop().time() + STREAM_LIFETIME_SECONDS
    try:
        while True:
            document = await queue(portal)
            yield document
            left = ends - asyncio.get_running_loop().time()
            if left <= 0 or not await _next_change(portal, subscription.queue, left):
                return
    finally:
        portal.bus.unsubscribe(subscription)
        portal.metrics.sse_open.dec()


async def _next_change(portal: Parts, changes: asyncio.Queue[Any], left: float) -> bool:
    """Wait for a change on the bus or the next reason falling due (True), or the stream's end (False)."""
    due = await store_of(portal).next_attention_due(iso_utc(utc_now()))
    timeout, is_due = left, False
    if due is not None:
        until_due = max(0.0, (parse_iso(due) - utc_now()).total_seconds()) + DUE_SLACK_SECONDS
        timeout, is_due = min(left, until_due), until_due <= left
    try:
        await asyncio.wait_for(changes.get(), timeout)
    except TimeoutError:
        return is_due
    while not changes.empty():  # one re-read covers every change that arrived meanwhile
        changes.get_nowait()
    return True
