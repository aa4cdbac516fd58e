"""The notifications' part of the SQLite store: claiming outbox rows, settling them, the
message history's delivery statuses and SMS opt-outs.

``SQLiteStore`` inherits these methods; every query runs through its ``read``/``write``
plumbing (writes in the single writer thread), so a claim is atomic between workers of one
process, and ``BEGIN IMMEDIATE`` makes it atomic between processes sharing the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from portal.core.attention import callback_flags, status_flags
from portal.core.tallies import message_tallies
from portal.store.records import Message, OutboxItem, OutboxRow, Settlement
from portal.store.rules import claim_order, status_advances
from portal.store.sqlite.insight import record_flags, record_tallies
from portal.store.sqlite.messages import MESSAGE_COLUMNS, insert_message, message_from_row

T = TypeVar("T")

OUTBOX_COLUMNS = (
    "id, dedup_key, kind, job_id, payload, state, attempts, next_attempt_at, last_error, created_at, updated_at,"
    " lease_until"
)


def outbox_from_row(row: tuple[Any, ...]) -> OutboxRow:
    return OutboxRow(
        id=row[0],
        dedup_key=row[1],
        kind=row[2],
        job_id=row[3],
        payload=json.loads(row[4]),
        state=row[5],
        attempts=row[6],
        next_attempt_at=row[7],
        last_error=row[8],
        created_at=row[9],
        updated_at=row[10],
        lease_until=row[11],
    )


def _placeholders(values: tuple[str, ...]) -> str:
    return ", ".join("?" for _ in values)


def insert_outbox(conn: sqlite3.Connection, item: OutboxItem, now: str) -> int:
    """Queue ``item`` unless its dedup key is taken; return how many rows were added (0 or 1)."""
    cursor = conn.execute(
        "INSERT INTO outbox (dedup_key, kind, job_id, payload, next_attempt_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING",
        (item.dedup_key, item.kind, item.job_id, json.dumps(item.payload), item.not_before or now, now, now),
    )
    if cursor.rowcount and item.kind == "callback":
        record_flags(conn, callback_flags(item.job_id, item.payload, now))
    return cursor.rowcount


def _claim(conn: sqlite3.Connection, kinds: tuple[str, ...], now: str, lease_until: str, limit: int) -> list[OutboxRow]:
    # The lease is the row's next attempt time: a claimed row is invisible to other workers
    # until it runs out, and a crashed worker's rows simply fall due again.
    rows = conn.execute(
        f"UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, lease_until = ?, updated_at = ?"
        f" WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND kind IN ({_placeholders(kinds)})"
        f" AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)"
        f" RETURNING {OUTBOX_COLUMNS}",
        (lease_until, lease_until, now, *kinds, now, limit),
    ).fetchall()
    return claim_order([outbox_from_row(r) for r in rows])


def _begin_message(conn: sqlite3.Connection, outbox_id: int, m: Message) -> int:
    row = conn.execute("SELECT id FROM messages WHERE outbox_id = ?", (outbox_id,)).fetchone()
    if row is not None:
        conn.execute(
            "UPDATE messages SET to_addr = ?, body = ?, meta = ?, updated_at = ? WHERE id = ?",
            (m.to_addr, m.body, json.dumps(m.meta), m.updated_at, row[0]),
        )
        return int(row[0])
    return insert_message(conn, m, outbox_id)


def _extend(conn: sqlite3.Connection, outbox_id: int, lease_until: str, new_lease_until: str) -> bool:
    # The lease is also the row's next attempt time (see ``_claim``): both move together.
    return bool(
        conn.execute(
            "UPDATE outbox SET lease_until = ?, next_attempt_at = ? WHERE id = ? AND lease_until = ?",
            (new_lease_until, new_lease_until, outbox_id, lease_until),
        ).rowcount
    )


def _settle(conn: sqlite3.Connection, s: Settlement, now: str) -> bool:
    # Only the claim that still holds the row may settle it: a worker whose lease ran out
    # (another worker took the row over, or already settled it) changes nothing.
    settled = conn.execute(
        "UPDATE outbox SET state = ?, next_attempt_at = COALESCE(?, next_attempt_at), lease_until = NULL,"
        " last_error = ?, updated_at = ? WHERE id = ? AND (? IS NULL OR lease_until = ?)",
        (s.state, s.next_attempt_at, s.error, now, s.outbox_id, s.lease_until, s.lease_until),
    ).rowcount
    if not settled:
        return False
    if s.message_id is not None:
        _track_status(conn, s.message_id, s.message_status, s.error, now)
        conn.execute(
            "UPDATE messages SET status = COALESCE(?, status), provider_id = COALESCE(?, provider_id), error = ?,"
            " updated_at = ? WHERE id = ?",
            (s.message_status, s.provider_id, s.error, now, s.message_id),
        )
    for item in s.follow_ups:
        insert_outbox(conn, item, now)
    if s.opt_out is not None:
        _set_opt_out(conn, s.opt_out, True, "provider", now)
    return True


def _update_status(
    conn: sqlite3.Connection, provider_id: str, status: str, error: str | None, now: str
) -> Message | None:
    row = conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE provider_id = ?", (provider_id,)).fetchone()
    if row is None:
        return None
    current = str(row[7])
    if not status_advances(current, status):
        return message_from_row(row)
    _track_status(conn, int(row[0]), status, error, now)
    conn.execute(
        "UPDATE messages SET status = ?, error = COALESCE(?, error), updated_at = ? WHERE id = ?",
        (status, error, now, row[0]),
    )
    updated = conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (row[0],)).fetchone()
    return message_from_row(updated)


def _track_status(conn: sqlite3.Connection, message_id: int, status: str | None, error: str | None, now: str) -> None:
    """Count a message's status change and raise ``message_failed``, before the row is updated."""
    row = conn.execute("SELECT job_id, channel, status, direction FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None or row[3] != "out":
        return
    record_tallies(conn, message_tallies(str(row[1]), row[2], status, error, now))
    record_flags(conn, status_flags(row[0], row[2], status, now))


def _set_opt_out(conn: sqlite3.Connection, address: str, opted_out: bool, source: str, now: str) -> None:
    if opted_out:
        conn.execute(
            "INSERT INTO opt_outs (address, channel, source, created_at) VALUES (?, 'sms', ?, ?)"
            " ON CONFLICT (address) DO NOTHING",
            (address, source, now),
        )
    else:
        conn.execute("DELETE FROM opt_outs WHERE address = ?", (address,))


class SQLiteOutboxQueries:
    """Mixed into ``SQLiteStore``; relies on its ``read`` and ``write``."""

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def claim_outbox(self, kinds: tuple[str, ...], now: str, lease_until: str, limit: int) -> list[OutboxRow]:
        if not kinds or limit <= 0:
            return []
        return await self.write(lambda c: _claim(c, kinds, now, lease_until, limit))

    async def next_outbox_due(self, kinds: tuple[str, ...]) -> str | None:
        if not kinds:
            return None

        def fetch(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                f"SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending' AND kind IN ({_placeholders(kinds)})",
                kinds,
            ).fetchone()
            return str(row[0]) if row and row[0] is not None else None

        return await self.read(fetch)

    async def begin_message(self, outbox_id: int, message: Message) -> int:
        return await self.write(lambda c: _begin_message(c, outbox_id, message))

    async def extend_lease(self, outbox_id: int, lease_until: str, new_lease_until: str) -> bool:
        return await self.write(lambda c: _extend(c, outbox_id, lease_until, new_lease_until))

    async def settle_outbox(self, settlement: Settlement, now: str) -> bool:
        return await self.write(lambda c: _settle(c, settlement, now))

    async def update_message_status(self, provider_id: str, status: str, error: str | None, now: str) -> Message | None:
        return await self.write(lambda c: _update_status(c, provider_id, status, error, now))

    async def set_opt_out(self, address: str, opted_out: bool, source: str, now: str) -> None:
        await self.write(lambda c: _set_opt_out(c, address, opted_out, source, now))

    async def record_opt_out(
        self, address: str, opted_out: bool, source: str, now: str, outbox: tuple[OutboxItem, ...] = ()
    ) -> int:
        def apply(conn: sqlite3.Connection) -> int:
            _set_opt_out(conn, address, opted_out, source, now)
            return sum(insert_outbox(conn, item, now) for item in outbox)

        return await self.write(apply)

    async def is_opted_out(self, address: str) -> bool:
        row = await self.read(lambda c: c.execute("SELECT 1 FROM opt_outs WHERE address = ?", (address,)).fetchone())
        return row is not None

    async def outbox_counts(self) -> dict[str, int]:
        rows = await self.read(
            lambda c: c.execute("SELECT kind, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY kind").fetchall()
        )
        return {str(kind): int(count) for kind, count in rows}

    async def list_outbox(self, job_id: str) -> list[OutboxRow]:
        rows = await self.read(
            lambda c: c.execute(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE job_id = ? ORDER BY id", (job_id,)
            ).fetchall()
        )
        return [outbox_from_row(r) for r in rows]
