"""The durable outbox: what a row holds, when a failed one is tried again, and what a
permanent failure leaves behind.

Rows are written by the store in the same transaction as the job change that causes them
(``Decision.outbox``) and delivered by the worker (``portal/notify/worker.py``). Each row has a dedup
key (a second row for the same message is never inserted), attempts, a next-attempt time that
doubles as the lease of the worker holding it, and the last error.

One kind of row sends nothing: a ``late_check`` is a delayed look at a job, due when its
promised window ends (``core/progress.py``). The worker hands it back to the portal, which
marks the job late if it still is not started; so a silent technician still makes the page
say "running late" and the customer hear it, without any polling loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from portal.core.jobs import Job, iso_utc, parse_iso
from portal.core.policy import Notice
from portal.core.trip import late_check
from portal.store.base import OutboxItem, OutboxRow

CALLBACK = "callback"
# Kinds the worker delivers: customer messages, and events for the field system (callbacks).
SENDABLE_KINDS = ("sms", "email", CALLBACK)
# A delayed lateness check of one job (no delivery): claimed by workers that can change jobs.
LATE_CHECK = "late_check"
# How long a message keeps being retried after it fell due (CONTRACT §8).
GIVE_UP_AFTER = {"sms": timedelta(hours=24), "email": timedelta(hours=24), CALLBACK: timedelta(hours=72)}
FIRST_RETRY_SECONDS = 5.0  # at most 5 s (jittered to 2.5-5): the first retry comes within 10 s
MAX_RETRY_SECONDS = 600.0  # 10 minutes between attempts at most


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with "equal jitter": each wait is half its step plus a random half.

    Steps double from ``first``: 5, 10, 20 s, so three transient failures in a row cost at
    most 35 s and the message still goes out within a minute; ``cap`` bounds the step.
    The random half spreads retries so that a provider outage does not end in a stampede.
    """

    first: float = FIRST_RETRY_SECONDS
    cap: float = MAX_RETRY_SECONDS

    def delay(self, attempts: int, unit: float) -> float:
        """The wait after the ``attempts``-th failed attempt; ``unit`` is uniform in [0, 1)."""
        step: float = min(self.cap, self.first * 2.0 ** max(0, attempts - 1))
        return step / 2 + unit * step / 2


def from_notice(notice: Notice) -> OutboxItem:
    return OutboxItem(
        dedup_key=notice.dedup_key,
        kind=notice.channel,
        job_id=notice.job_id,
        payload=notice.payload,
        not_before=notice.not_before,
    )


def late_check_item(before: Job | None, after: Job) -> OutboxItem | None:
    """The lateness check a change arms, one per job and window end (see ``late_check``)."""
    armed = late_check(before, after)
    if armed is None:
        return None
    end, at = armed
    due = iso_utc(at)
    payload = {"type": LATE_CHECK, "window_end": end, "due": due}
    return OutboxItem(f"{after.id}:{LATE_CHECK}:{iso_utc(parse_iso(end))}", LATE_CHECK, after.id, payload, due)


def deadline(row: OutboxRow) -> datetime:
    """When retrying stops: the give-up span after the row first fell due."""
    due = row.payload.get("due") or row.created_at
    return parse_iso(str(due)) + GIVE_UP_AFTER.get(row.kind, GIVE_UP_AFTER["sms"])


def fallback_email(row: OutboxRow) -> OutboxItem | None:
    """The same message by email, for an SMS that cannot be delivered, when there is an address."""
    address = row.payload.get("fallback_email")
    if row.kind != "sms" or not address:
        return None
    payload: dict[str, Any] = {**row.payload, "channel": "email", "to": address, "fallback_email": None}
    return OutboxItem(f"{row.dedup_key}:fallback", "email", row.job_id, payload)


def failed_callback(row: OutboxRow, error: str) -> OutboxItem:
    """A ``message.failed`` event for the field system (CONTRACT §4)."""
    data = {"job_id": row.job_id, "channel": row.kind, "error": error}
    return OutboxItem(f"{row.dedup_key}:failed", CALLBACK, row.job_id, {"type": "message.failed", "data": data})
