"""``portal migrate-store`` on SQLite: every table out as plain records, and back in.

Most kinds are one table whose columns are the record's fields (``exchange.FIELDS``), some
holding JSON text; those are copied by the table below. A job is more than its row (its
link keys and event log come along) and its search columns are derived again on the way in,
by the same rule as every change (``rules.search_fields``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, NamedTuple, TypeVar

from portal.core.jobs import Job
from portal.store.exchange import FIELDS, Record
from portal.store.rules import compact_json, search_fields

T = TypeVar("T")


class Table(NamedTuple):
    """Where a kind of record lives: its table, the columns holding JSON, the export order."""

    name: str
    order: str
    json_columns: tuple[str, ...] = ()


TABLES = {
    "jobs": Table("jobs", "updated_at"),
    "webhook_ids": Table("webhook_ids", "id"),
    "rejections": Table("rejected_webhooks", "id"),
    "outbox": Table("outbox", "id", ("payload",)),
    "messages": Table("messages", "id", ("meta",)),
    "attention": Table("attention", "job_id, reason"),
    "tallies": Table("tallies", "bucket, name"),
    "opt_outs": Table("opt_outs", "address"),
    "conversations": Table("conversations", "phone", ("state",)),
    "staff": Table("staff_accounts", "username"),
    "audit": Table("staff_audit", "id"),
}
JOB_COLUMNS = ("id", "doc", "link_key", "last_seq", "created_at", "updated_at")


def _export_rows(conn: sqlite3.Connection, kind: str) -> list[Record]:
    table, columns = TABLES[kind], FIELDS[kind]
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY {table.order}").fetchall()
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    for record in records:
        for column in table.json_columns:
            record[column] = json.loads(record[column])
    return records


def _import_row(conn: sqlite3.Connection, kind: str, record: Record) -> None:
    table, columns = TABLES[kind], FIELDS[kind]
    values = [json.dumps(record[c]) if c in table.json_columns else record[c] for c in columns]
    marks = ", ".join("?" for _ in columns)
    conn.execute(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", values)


def _job_rows(conn: sqlite3.Connection) -> list[Record]:
    rows = conn.execute(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs ORDER BY updated_at").fetchall()
    return [dict(zip(JOB_COLUMNS, row, strict=True)) for row in rows]


def _with_links_and_events(conn: sqlite3.Connection, row: Record) -> Record:
    """A job's row with its link keys and event log: read per job, so one job's log is in memory at a time."""
    links = conn.execute(
        "SELECT key, created_at, revoked_at FROM link_keys WHERE job_id = ? ORDER BY created_at", (row["id"],)
    ).fetchall()
    events = conn.execute(
        "SELECT seq, type, data, at FROM job_events WHERE job_id = ? ORDER BY seq", (row["id"],)
    ).fetchall()
    return {
        **row,
        "doc": json.loads(row["doc"]),
        "links": [{"key": k, "created_at": c, "revoked_at": r} for k, c, r in links],
        "events": [{"seq": s, "type": t, "data": json.loads(d), "at": a} for s, t, d, a in events],
    }


def _import_job(conn: sqlite3.Connection, r: Record) -> None:
    job = Job.from_dict(r["doc"])
    conn.execute(
        "INSERT INTO jobs (id, link_key, doc, status, closed_at, reference, phone, email, name, last_seq,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            r["id"],
            r["link_key"],
            compact_json(r["doc"]),
            job.status,
            job.closed_at,
            *search_fields(job).values(),
            r["last_seq"],
            r["created_at"],
            r["updated_at"],
        ),
    )
    conn.executemany(
        "INSERT INTO link_keys (key, job_id, created_at, revoked_at) VALUES (?, ?, ?, ?)",
        [(link["key"], r["id"], link["created_at"], link["revoked_at"]) for link in r["links"]],
    )
    conn.executemany(
        "INSERT INTO job_events (job_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
        [(r["id"], e["seq"], e["type"], compact_json(e["data"]), e["at"]) for e in r["events"]],
    )


class SQLiteTransferQueries:
    """Mixed into ``SQLiteStore``; relies on its ``read`` and ``write``."""

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def is_empty(self) -> bool:
        def count(conn: sqlite3.Connection) -> int:
            return sum(conn.execute(f"SELECT COUNT(*) FROM {t.name}").fetchone()[0] for t in TABLES.values())

        return await self.read(count) == 0

    async def count_records(self, kind: str) -> int:
        sql = f"SELECT COUNT(*) FROM {TABLES[kind].name}"
        found: int = await self.read(lambda c: c.execute(sql).fetchone()[0])
        return found

    async def export_records(self, kind: str) -> AsyncIterator[Record]:
        if kind != "jobs":
            for record in await self.read(lambda c: _export_rows(c, kind)):
                yield record
            return
        for row in await self.read(_job_rows):
            yield await self.read(partial(_with_links_and_events, row=row))

    async def import_record(self, kind: str, record: Record) -> None:
        def insert(conn: sqlite3.Connection) -> Any:
            return _import_job(conn, record) if kind == "jobs" else _import_row(conn, kind, record)

        await self.write(insert)
