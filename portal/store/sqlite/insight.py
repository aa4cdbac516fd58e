"""The attention queue and statistics counters on SQLite (``store/insight.py``).

``record_flags`` and ``record_tallies`` run inside the writer's transaction of the change
that causes them; the queries read the two small tables, never the jobs' documents.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import TypeVar

from portal.core.attention import Flags, Item, item_of, queue_order, ranked
from portal.core.tallies import Tally
from portal.store.base import AuditEntry
from portal.store.insight import ATTENTION_PAGE

T = TypeVar("T")


def record_flags(conn: sqlite3.Connection, flags: Flags) -> None:
    """Raise and clear reasons; a reason already raised keeps its first ``since``."""
    for job_id, reason in flags.cleared:
        conn.execute("DELETE FROM attention WHERE job_id = ? AND reason = ?", (job_id, reason))
    for flag in flags.raised:
        conn.execute(
            "INSERT INTO attention (job_id, reason, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (flag.job_id, flag.reason, flag.since),
        )


def record_tallies(conn: sqlite3.Connection, tallies: Iterable[Tally]) -> None:
    conn.executemany(
        "INSERT INTO tallies (bucket, name, amount) VALUES (?, ?, ?)"
        " ON CONFLICT (bucket, name) DO UPDATE SET amount = amount + excluded.amount",
        [tuple(t) for t in tallies],
    )


def _attention(conn: sqlite3.Connection, now: str, limit: int) -> tuple[list[Item], int]:
    rows = conn.execute("SELECT job_id, reason, since FROM attention WHERE since <= ?", (now,)).fetchall()
    waiting = ranked(rows)  # every waiting job is ranked; only the page shown becomes Items
    shown = [item_of(job_id, reasons) for job_id, reasons in waiting[:limit]]
    references: dict[str, str | None] = {}
    for start in range(0, len(shown), 500):  # SQLite's bound parameters per statement are limited
        ids = [item.job_id for item in shown[start : start + 500]]
        marks = ", ".join("?" for _ in ids)
        for job_id, reference in conn.execute(f"SELECT id, reference FROM jobs WHERE id IN ({marks})", ids):
            references[job_id] = reference
    named = [
        Item(item.job_id, item.reasons, item.since, references.get(item.job_id) or item.job_id, item.details)
        for item in shown
    ]
    return named, len(waiting)


def _acknowledge(conn: sqlite3.Connection, job_id: str, now: str, audit: AuditEntry) -> list[str]:
    rows = conn.execute(
        "DELETE FROM attention WHERE job_id = ? AND since <= ? RETURNING reason", (job_id, now)
    ).fetchall()
    reasons = sorted(str(r[0]) for r in rows)
    detail = ", ".join(reasons) or "nothing to clear"
    conn.execute(
        "INSERT INTO staff_audit (at, username, action, job_id, client, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (audit.at, audit.username, audit.action, audit.job_id, audit.client, detail),
    )
    return reasons


class SQLiteInsightQueries:
    """Mixed into ``SQLiteStore``; relies on its ``read`` and ``write``."""

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def attention(self, now: str, limit: int = ATTENTION_PAGE) -> tuple[list[Item], int]:
        return await self.read(lambda c: _attention(c, now, limit))

    async def job_attention(self, job_id: str, now: str) -> Item | None:
        rows = await self.read(
            lambda c: c.execute(
                "SELECT job_id, reason, since FROM attention WHERE job_id = ? AND since <= ?", (job_id, now)
            ).fetchall()
        )
        items = queue_order([(str(r[0]), str(r[1]), str(r[2])) for r in rows])
        return items[0] if items else None

    async def next_attention_due(self, now: str) -> str | None:
        row = await self.read(
            lambda c: c.execute("SELECT MIN(since) FROM attention WHERE since > ?", (now,)).fetchone()
        )
        return str(row[0]) if row and row[0] is not None else None

    async def acknowledge(self, job_id: str, now: str, audit: AuditEntry) -> list[str]:
        return await self.write(lambda c: _acknowledge(c, job_id, now, audit))

    async def tallies(self, edges: list[int]) -> list[tuple[int, str, float]]:
        if len(edges) < 2:
            return []
        days = ", ".join("(?, ?, ?)" for _ in edges[1:])
        params = [value for i in range(len(edges) - 1) for value in (i, edges[i], edges[i + 1])]
        query = (
            f"WITH days (i, lo, hi) AS (VALUES {days})"
            " SELECT days.i, t.name, SUM(t.amount) FROM days"
            " JOIN tallies t ON t.bucket >= days.lo AND t.bucket < days.hi GROUP BY days.i, t.name"
        )
        rows = await self.read(lambda c: c.execute(query, params).fetchall())
        return [(int(r[0]), str(r[1]), float(r[2])) for r in rows]
