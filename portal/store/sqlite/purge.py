"""Retention on SQLite: deleting the personal data of jobs closed long ago, a batch at a time.

The candidates are found on a reader connection, so the scan never holds the write lock;
the deletion is one writer transaction per batch, which re-checks each job (it may have
been reopened since). The partial index ``jobs_closed`` (migration 6) keeps the scan to the
closed jobs that are due.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Per job, the rows that hold its personal data; the staff audit log (job ids only) is kept.
JOB_TABLES = ("job_events", "messages", "outbox", "link_keys", "attention")


def _candidates(conn: sqlite3.Connection, closed_before: str, limit: int) -> list[str]:
    rows = conn.execute(
        "SELECT id FROM jobs WHERE closed_at < ? ORDER BY closed_at, id LIMIT ?", (closed_before, limit)
    ).fetchall()
    return [str(row[0]) for row in rows]


def purge_jobs(conn: sqlite3.Connection, job_ids: list[str], closed_before: str) -> int:
    """Delete the jobs of ``job_ids`` that are still closed before ``closed_before``; return how many."""
    purged = 0
    for job_id in job_ids:
        row = conn.execute("SELECT phone FROM jobs WHERE id = ? AND closed_at < ?", (job_id, closed_before)).fetchone()
        if row is None:
            continue
        for table in JOB_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))
        conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        phone = row[0]
        if phone and conn.execute("SELECT 1 FROM jobs WHERE phone = ? LIMIT 1", (phone,)).fetchone() is None:
            conn.execute("DELETE FROM conversations WHERE phone = ?", (phone,))
        purged += 1
    return purged


class SQLitePurgeQueries:
    """Mixed into ``SQLiteStore``; relies on its ``read`` and ``write``."""

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def purge_closed_jobs(self, closed_before: str, limit: int) -> int:
        if limit <= 0:
            return 0
        job_ids = await self.read(lambda c: _candidates(c, closed_before, limit))
        if not job_ids:
            return 0
        return await self.write(lambda c: purge_jobs(c, job_ids, closed_before))
