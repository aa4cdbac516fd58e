"""Events for the field system (CONTRACT §4): queued as outbox rows, sent by the worker.

A callback is queued in the same transaction as the change it reports, so none is lost.
Its body and its ``webhook-id`` are derived from the row alone, so every retry carries the
same id (receivers deduplicate on it) and the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from portal.core.jobs import iso_utc
from portal.notify.outbox import CALLBACK
from portal.store.base import OutboxItem, OutboxRow

WEBHOOK_ID_PREFIX = "msg_"  # the prefix Standard Webhooks' own examples use
WEBHOOK_ID_DIGEST_CHARS = 32  # 128 bits of the dedup key's hash: unique, and short in logs


def callback(
    kind: str, data: dict[str, Any], *, job_id: str | None, at: datetime, key: str | None = None
) -> OutboxItem:
    """A callback row; ``key`` names the occurrence (e.g. an SMS's sid) so a retried request adds none."""
    occurrence = key or uuid.uuid4().hex
    payload = {"type": kind, "timestamp": iso_utc(at), "data": data}
    return OutboxItem(f"callback:{kind}:{occurrence}", CALLBACK, job_id, payload)


def opt_out_callback(phone: str, kind: str, *, job_id: str | None, at: datetime, key: str | None) -> OutboxItem:
    """``customer.opted_out`` (``kind`` ``opt_out``) or ``customer.opted_in``, for one phone number."""
    event = "customer.opted_out" if kind == "opt_out" else "customer.opted_in"
    return callback(event, {"phone": phone}, job_id=job_id, at=at, key=key)


def webhook_id(row: OutboxRow) -> str:
    """Stable per event: a hash of the row's dedup key, which survives retries and store moves."""
    digest = hashlib.sha256(row.dedup_key.encode()).hexdigest()[:WEBHOOK_ID_DIGEST_CHARS]
    return WEBHOOK_ID_PREFIX + digest


def envelope(row: OutboxRow) -> str:
    """The body: ``{"type", "timestamp", "data"}`` as for inbound webhooks (CONTRACT §3)."""
    payload = row.payload
    body = {"type": payload["type"], "timestamp": payload.get("timestamp") or row.created_at, "data": payload["data"]}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
