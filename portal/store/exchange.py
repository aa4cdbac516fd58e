"""The one record format of ``portal migrate-store``: what each backend exports and imports.

A record is a plain dict of JSON values, named as below, the same from every backend: the
copy from one store to another passes records along and knows neither schema, and each
backend turns them into its own rows or keys (``sqlite/transfer.py``, ``redis/transfer.py``).
Ids are kept, so messages still point at their outbox rows and audit entries keep their order.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from portal.store.records import Message, StoredEvent

Record = dict[str, Any]

# The fields of each kind's records, in the order kinds are copied: outbox rows before the
# messages that point at them.
FIELDS: dict[str, tuple[str, ...]] = {
    # ``doc`` is the job document (``Job.to_dict``); ``links`` every key it has had
    # ({key, created_at, revoked_at}, oldest first); ``events`` its stored live events
    # ({seq, type, data, at}).
    "jobs": ("id", "doc", "link_key", "last_seq", "created_at", "updated_at", "links", "events"),
    "webhook_ids": ("id", "received_at"),
    "rejections": ("received_at", "status_code", "reason", "webhook_id", "detail", "excerpt"),
    "outbox": (
        "id",
        "dedup_key",
        "kind",
        "job_id",
        "payload",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "updated_at",
        "lease_until",
    ),
    "messages": (
        "id",
        "job_id",
        "channel",
        "direction",
        "to_addr",
        "from_addr",
        "body",
        "status",
        "provider_id",
        "error",
        "meta",
        "created_at",
        "updated_at",
        "outbox_id",
    ),
    # The staff's attention queue, one record per raised reason (``since`` may lie ahead: a
    # request not yet due), and the statistics counters, one per quarter hour and name
    # (``core/tallies.py``). Both are derived from writes the copy does not replay, so they
    # are copied as they stand.
    "attention": ("job_id", "reason", "since"),
    "tallies": ("bucket", "name", "amount"),
    "opt_outs": ("address", "channel", "source", "created_at"),
    "conversations": ("phone", "state", "updated_at"),
    "staff": ("username", "password_hash", "timezone", "created_at", "updated_at"),
    "audit": ("at", "username", "action", "job_id", "client", "detail", "id"),
}
KINDS = tuple(FIELDS)


def message_record(message: Message, outbox_id: int | None) -> Record:
    """A message of the history with the outbox row it was sent for, if any."""
    return {**asdict(message), "outbox_id": outbox_id}


def message_from_record(record: Record) -> Message:
    return Message(**{name: record[name] for name in FIELDS["messages"] if name != "outbox_id"})


def event_record(event: StoredEvent) -> Record:
    return {"seq": event.seq, "type": event.type, "data": event.data, "at": event.at}
