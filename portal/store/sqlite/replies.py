"""Two-way SMS on SQLite: a sender's jobs by phone, and the conversation kept per phone.

``SQLiteStore`` inherits these methods; queries run through its ``read``/``write`` plumbing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from portal.core.jobs import Job, iso_utc, parse_iso
from portal.store.records import JobRecord
from portal.store.rules import CONVERSATION_KEEP

T = TypeVar("T")


def _jobs_by_phone(conn: sqlite3.Connection, phone: str, limit: int) -> list[JobRecord]:
    # Served by the jobs_phone (phone, updated_at) index: no document is read but the matches.
    rows = conn.execute(
        "SELECT doc, link_key, last_seq, created_at, updated_at FROM jobs WHERE phone = ?"
        " ORDER BY updated_at DESC, id LIMIT ?",
        (phone, limit),
    ).fetchall()
    return [JobRecord(Job.from_dict(json.loads(r[0])), r[1], r[2], r[3], r[4]) for r in rows]


def _set_conversation(conn: sqlite3.Connection, phone: str, state: dict[str, Any] | None, now: str) -> None:
    conn.execute("DELETE FROM conversations WHERE updated_at < ?", (iso_utc(parse_iso(now) - CONVERSATION_KEEP),))
    if state is None:
        conn.execute("DELETE FROM conversations WHERE phone = ?", (phone,))
        return
    conn.execute(
        "INSERT INTO conversations (phone, state, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (phone) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        (phone, json.dumps(state), now),
    )


class SQLiteReplyQueries:
    """Mixed into ``SQLiteStore``; relies on its ``read`` and ``write``."""

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def jobs_by_phone(self, phone: str, limit: int) -> list[JobRecord]:
        return await self.read(lambda c: _jobs_by_phone(c, phone, limit))

    async def get_conversation(self, phone: str) -> dict[str, Any] | None:
        row = await self.read(
            lambda c: c.execute("SELECT state FROM conversations WHERE phone = ?", (phone,)).fetchone()
        )
        if row is None:
            return None
        state: dict[str, Any] = json.loads(row[0])
        return state

    async def set_conversation(self, phone: str, state: dict[str, Any] | None, now: str) -> None:
        await self.write(lambda c: _set_conversation(c, phone, state, now))
