"""Rows of the ``messages`` table to and from ``Message`` records, shared by the SQLite mixins."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from portal.core.tallies import message_tallies
from portal.store.records import Message
from portal.store.sqlite.insight import record_tallies

MESSAGE_COLUMNS = (
    "id, job_id, channel, direction, to_addr, from_addr, body, status, provider_id, error, meta, created_at, updated_at"
)


def message_from_row(row: tuple[Any, ...]) -> Message:
    return Message(
        id=row[0],
        job_id=row[1],
        channel=row[2],
        direction=row[3],
        to_addr=row[4],
        from_addr=row[5],
        body=row[6],
        status=row[7],
        provider_id=row[8],
        error=row[9],
        meta=json.loads(row[10]),
        created_at=row[11],
        updated_at=row[12],
    )


def insert_message(conn: sqlite3.Connection, m: Message, outbox_id: int | None = None) -> int:
    """Add ``m`` to the history (its ``id`` is ignored), sent for ``outbox_id`` if any; return its id."""
    cursor = conn.execute(
        "INSERT INTO messages (job_id, channel, direction, to_addr, from_addr, body, status, provider_id, error,"
        " meta, outbox_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            m.job_id,
            m.channel,
            m.direction,
            m.to_addr,
            m.from_addr,
            m.body,
            m.status,
            m.provider_id,
            m.error,
            json.dumps(m.meta),
            outbox_id,
            m.created_at,
            m.updated_at,
        ),
    )
    if m.direction == "out":
        record_tallies(conn, message_tallies(m.channel, None, m.status, m.error, m.created_at))
    return int(cursor.lastrowid or 0)
