"""The rules every store backend keeps alike, written once above the backends.

Each backend stores jobs, messages and conversations its own way (SQL rows, Redis keys), but
what it derives from them must not differ: the same job is found by the same search on both,
a delivery status moves the same way, a conversation is kept as long. Both backends, and
``portal migrate-store`` between them, take those decisions from here.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import orjson

from portal.core.jobs import Job, iso_utc, parse_iso
from portal.core.replies import CONVERSATION_TTL
from portal.store.records import OutboxRow

# Live events kept per job for resuming streams; older ones fall back to a fresh snapshot.
EVENT_LOG_CAP = 500
# Webhook ids are remembered longer than any sender retries (Standard Webhooks: ~76 hours).
WEBHOOK_ID_RETENTION_HOURS = 96
WEBHOOK_ID_RETENTION = timedelta(hours=WEBHOOK_ID_RETENTION_HOURS)
# Rejected webhooks kept for staff; the list is for diagnosis, not an archive.
REJECTED_KEEP = 1000
# Message statuses in the order they may move: a later callback never moves one backwards.
MESSAGE_STATUS_RANK = {"queued": 0, "sent": 1, "delivered": 2, "undelivered": 2, "failed": 2}
# A conversation outlives the grammar's memory a little (core/replies.py decides staleness);
# older ones are dead weight, dropped by SQLite on each write and expired by Redis.
CONVERSATION_KEEP = CONVERSATION_TTL + timedelta(hours=1)
# Staff sessions end far sooner (idle and absolute limits in portal/staff/auth.py); what a
# store keeps of one only needs to outlive them.
STAFF_SESSION_KEEP = timedelta(days=2)
# The values of a job that staff search and the SMS conversation look jobs up by.
SEARCH_FIELDS = ("reference", "phone", "email", "name")
# What a backend keeps beside a job's document to find it by: the search fields, the status
# (the console's filter) and the closing time (retention).
INDEXED_FIELDS = ("status", "closed_at", *SEARCH_FIELDS)
# A pattern (what staff typed, lowercased) is looked for inside these; digits inside the phone.
PATTERN_FIELDS = ("id", "reference", "email", "name")


def search_fields(job: Job) -> dict[str, str | None]:
    """The searchable values of a job, as every backend indexes them.

    The reference is kept as text whatever JSON type it came as, since staff type it: a
    reference ``10442`` is found by ``10442``. Email and name are lowercased for substring
    search; an empty value is no value.
    """
    customer = job.customer
    reference = job.values.get("reference")
    return {
        "reference": str(reference) if reference is not None else None,
        "phone": job.values.get("customer.phone_e164"),
        "email": (customer.get("email") or "").lower() or None,
        "name": (customer.get("name") or "").lower() or None,
    }


def indexed_values(job: Job) -> dict[str, str | None]:
    """The values of ``INDEXED_FIELDS`` for ``job``, in that order.

    A backend rewrites them (and their indexes) only when they differ from what it holds:
    most changes, a position report above all, move none of them.
    """
    return {"status": job.status, "closed_at": job.closed_at, **search_fields(job)}


def status_advances(current: str, status: str) -> bool:
    """Whether a delivery report of ``status`` moves a message now at ``current`` forward."""
    return MESSAGE_STATUS_RANK.get(status, -1) > MESSAGE_STATUS_RANK.get(current, -1)


def claim_order(rows: list[OutboxRow]) -> list[OutboxRow]:
    """Claimed rows as the worker sends them: oldest first, so a job's messages keep their order."""
    return sorted(rows, key=lambda r: (r.created_at, r.id))


def webhook_ids_cutoff(now: str) -> str:
    """Webhook ids received before this are forgotten by ``maintain``."""
    return iso_utc(parse_iso(now) - WEBHOOK_ID_RETENTION)


# orjson writes what the standard library would, minus its ASCII escapes; these options make
# it refuse, as the standard library does, what is not plain JSON data (a datetime, a dataclass),
# and hand a str or int subclass to the standard encoder.
ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def compact_json(value: Any) -> str:
    """Job documents and event data as both backends store them: no spaces, keys in order.

    Every change writes its job's whole document, so this is encoded with orjson, several
    times faster than the standard library; what orjson refuses (an integer beyond 64 bits,
    a key that is not text) goes to the standard encoder, which decides as it always did.
    """
    try:
        return orjson.dumps(value, option=ORJSON_STRICT).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"))


def read_json(text: str | bytes) -> Any:
    """A stored document or event back: orjson, or the standard decoder for what it refuses
    (text written before, with an escaped lone surrogate or a ``NaN``)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class DepthFromCounts:
    """``outbox_depth`` for every backend: the sum of ``outbox_counts``, so the two agree."""

    async def outbox_counts(self) -> dict[str, int]:
        raise NotImplementedError

    async def outbox_depth(self) -> int:
        return sum((await self.outbox_counts()).values())
