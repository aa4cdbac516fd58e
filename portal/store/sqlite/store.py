"""The embedded store: one SQLite file in WAL mode.

One writer thread owns the only write connection and commits whatever has queued up in a
single transaction (group commit), each change inside its own savepoint so one failure
cannot spoil its neighbours. Readers use a small pool of threads with their own
connections, so no SQLite call ever runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from pathlib import Path
from typing import Any, TypeVar

from portal.clock import now_iso
from portal.core.attention import callback_flags, job_flags
from portal.core.jobs import Job, parse_iso
from portal.core.tallies import job_tallies
from portal.links import new_link_key
from portal.store.records import (
    ChangeResult,
    Decide,
    JobRecord,
    LinkLookup,
    Message,
    Rejection,
    StoredEvent,
    StoreUnavailable,
)
from portal.store.rules import (
    EVENT_LOG_CAP,
    INDEXED_FIELDS,
    REJECTED_KEEP,
    DepthFromCounts,
    compact_json,
    indexed_values,
    read_json,
    webhook_ids_cutoff,
)
from portal.store.sqlite.insight import SQLiteInsightQueries, record_flags, record_tallies
from portal.store.sqlite.messages import MESSAGE_COLUMNS, insert_message, message_from_row
from portal.store.sqlite.migrations import migrate
from portal.store.sqlite.outbox import SQLiteOutboxQueries, insert_outbox
from portal.store.sqlite.purge import SQLitePurgeQueries
from portal.store.sqlite.replies import SQLiteReplyQueries
from portal.store.sqlite.staff import SQLiteStaffQueries
from portal.store.sqlite.transfer import SQLiteTransferQueries

log = logging.getLogger("portal.store")
T = TypeVar("T")

MAX_BATCH = 256  # changes per group commit: large enough to amortise fsync, small enough to stay fresh
READ_THREADS = 4
BUSY_TIMEOUT_MS = 5000  # how long to wait for another process's lock before answering 503

_STOP = object()


def connect(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class _Writer(threading.Thread):
    """Infinite looping thread that protects the single write connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(name="sqlite-writer", daemon=True)
        self.conn = conn
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self.jobs.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            if _STOP in batch:
                stopping = True
                batch = [item for item in batch if item is not _STOP]
            if batch:
                self._commit(batch)
        self.conn.close()

    def _commit(self, batch: list[Any]) -> None:
        outcomes: list[tuple[Any, Any, BaseException | None]] = []
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            for fn, future, _loop in batch:
                self.conn.execute("SAVEPOINT change")
                try:
                    result = fn(self.conn)
                except Exception as exc:
                    self.conn.execute("ROLLBACK TO change")
                    self.conn.execute("RELEASE change")
                    outcomes.append((future, None, exc))
                else:
                    self.conn.execute("RELEASE change")
                    outcomes.append((future, result, None))
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("store write failed: %s", exc)
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            failure = StoreUnavailable(f"SQLite write failed: {exc}")
            outcomes = [(future, None, failure) for _, future, _ in batch]
        # One wake-up per event loop for the whole batch, not one per change: each costs the
        # loop a trip through its self-pipe.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any, BaseException | None]]] = {}
        for (_, _, loop), outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append(outcome)
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, exc in outcomes:
        if future.done():
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)


# Parts in their own modules, one role of ``base.Store`` each: staff (staff.py), outbox
# (outbox.py), SMS replies (replies.py), retention (purge.py), migrate-store (transfer.py).
class SQLiteStore(
    SQLiteStaffQueries,
    SQLiteOutboxQueries,
    SQLiteReplyQueries,
    SQLitePurgeQueries,
    SQLiteTransferQueries,
    SQLiteInsightQueries,
    DepthFromCounts,
):
    def __init__(self, path: Path | str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._writer: _Writer | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await asyncio.to_thread(self._open_writer)
        self._writer = _Writer(conn)
        self._writer.start()
        self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="sqlite-read")

    def _open_writer(self) -> sqlite3.Connection:
        conn = connect(self.path, self.busy_timeout_ms)
        migrate(conn)
        return conn

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.jobs.put(_STOP)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        with self._lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    # -- plumbing ------------------------------------------------------------------

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside the next group commit and return its result."""
        writer = self._writer
        if writer is None or not writer.is_alive():
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        writer.jobs.put((fn, future, loop))
        try:
            return await future
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite write failed: {exc}") from exc

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._readers is None:
            raise StoreUnavailable("the store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, self._read, fn)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite read failed: {exc}") from exc

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self.busy_timeout_ms)
            self._local.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        return fn(conn)

    async def ping(self) -> None:
        if self._writer is None or not self._writer.is_alive():
            raise StoreUnavailable("the store is closed")
        await self.read(lambda c: c.execute("SELECT version FROM schema_version").fetchone())

    # -- jobs ----------------------------------------------------------------------

    async def change_job(self, job_id: str, decide: Decide, *, webhook_id: str | None = None) -> ChangeResult:
        return await self.write(lambda conn: _change_job(conn, job_id, decide, webhook_id))

    async def get_job(self, job_id: str) -> JobRecord | None:
        return await self.read(lambda c: _job_record(c, "id", job_id))

    async def resolve_link(self, link_key: str) -> LinkLookup:
        def lookup(conn: sqlite3.Connection) -> LinkLookup:
            row = conn.execute("SELECT job_id, revoked_at FROM link_keys WHERE key = ?", (link_key,)).fetchone()
            if row is None:
                return LinkLookup(None)
            if row[1] is not None:
                return LinkLookup(None, revoked=True)
            return LinkLookup(_job_record(conn, "id", row[0]))

        return await self.read(lookup)

    async def rotate_link_key(self, job_id: str) -> str | None:
        def rotate(conn: sqlite3.Connection) -> str | None:
            now = now_iso()
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                return None
            key = new_link_key()
            conn.execute("UPDATE link_keys SET revoked_at = ? WHERE job_id = ? AND revoked_at IS NULL", (now, job_id))
            conn.execute("INSERT INTO link_keys (key, job_id, created_at) VALUES (?, ?, ?)", (key, job_id, now))
            conn.execute("UPDATE jobs SET link_key = ?, updated_at = ? WHERE id = ?", (key, now, job_id))
            return key

        return await self.write(rotate)

    async def events_after(self, job_id: str, seq: int) -> list[StoredEvent] | None:
        def fetch(conn: sqlite3.Connection) -> list[StoredEvent] | None:
            oldest = conn.execute("SELECT MIN(seq) FROM job_events WHERE job_id = ?", (job_id,)).fetchone()[0]
            if oldest is not None and oldest > seq + 1:
                return None
            rows = conn.execute(
                "SELECT seq, type, data, at FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq",
                (job_id, seq),
            ).fetchall()
            return [StoredEvent(job_id, r[0], r[1], read_json(r[2]), r[3]) for r in rows]

        return await self.read(fetch)

    # -- messages ------------------------------------------------------------------

    async def add_message(self, message: Message) -> int:
        return await self.write(lambda c: insert_message(c, message))

    async def list_messages(self, job_id: str) -> list[Message]:
        rows = await self.read(
            lambda c: c.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE job_id = ? ORDER BY id", (job_id,)
            ).fetchall()
        )
        return [message_from_row(row) for row in rows]

    # -- rejected webhooks and upkeep ------------------------------------------------

    async def claim_delivery_id(self, delivery_id: str) -> bool:
        def claim(conn: sqlite3.Connection) -> bool:
            taken = conn.execute(
                "INSERT INTO webhook_ids (id, received_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (delivery_id, now_iso()),
            )
            return taken.rowcount == 1

        return await self.write(claim)

    async def record_rejection(self, rejection: Rejection) -> None:
        await self.write(
            lambda c: c.execute(
                "INSERT INTO rejected_webhooks (received_at, status_code, reason, webhook_id, detail, excerpt)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                astuple(rejection),
            )
        )

    async def list_rejections(self, limit: int = 100) -> list[Rejection]:
        rows = await self.read(
            lambda c: c.execute(
                "SELECT received_at, status_code, reason, webhook_id, detail, excerpt"
                " FROM rejected_webhooks ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [Rejection(*row) for row in rows]

    async def maintain(self, now: str) -> None:
        cutoff = webhook_ids_cutoff(now)

        def upkeep(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM webhook_ids WHERE received_at < ?", (cutoff,))
            conn.execute(
                "DELETE FROM rejected_webhooks WHERE id <= (SELECT MAX(id) FROM rejected_webhooks) - ?",
                (REJECTED_KEEP,),
            )

        await self.write(upkeep)


JOB_COLUMNS = "doc, link_key, last_seq, created_at, updated_at"
INDEXED_COLUMNS = ", ".join(INDEXED_FIELDS)  # the jobs table names its columns after them


def _job_record(conn: sqlite3.Connection, column: str, value: str) -> JobRecord | None:
    row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE {column} = ?", (value,)).fetchone()
    return None if row is None else _record_of(row)


def _record_of(row: tuple[Any, ...]) -> JobRecord:
    return JobRecord(Job.from_dict(read_json(row[0])), row[1], row[2], row[3], row[4])


def _change_job(conn: sqlite3.Connection, job_id: str, decide: Decide, webhook_id: str | None) -> ChangeResult:
    now = now_iso()
    if webhook_id is not None:
        inserted = conn.execute(
            "INSERT INTO webhook_ids (id, received_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (webhook_id, now)
        ).rowcount
        if not inserted:
            return ChangeResult(duplicate=True, job_id=job_id)
    row = conn.execute(f"SELECT {JOB_COLUMNS}, {INDEXED_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    record = None if row is None else _record_of(row)
    before = record.job if record else None
    decision = decide(before)
    job = decision.job
    doc = compact_json(job.to_dict())
    indexed = tuple(indexed_values(job).values())
    seq = record.last_seq if record else 0
    stored = [StoredEvent(job_id, seq + n, kind, data, now) for n, (kind, data) in enumerate(decision.events, 1)]
    last_seq = stored[-1].seq if stored else seq
    if row is None:
        key = new_link_key()
        conn.execute(
            f"INSERT INTO jobs (id, link_key, doc, {INDEXED_COLUMNS}, last_seq, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, key, doc, *indexed, last_seq, now, now),
        )
        conn.execute("INSERT INTO link_keys (key, job_id, created_at) VALUES (?, ?, ?)", (key, job_id, now))
    elif tuple(row[5:]) == indexed:  # nothing searched for moved: leave the indexes alone
        conn.execute("UPDATE jobs SET doc = ?, last_seq = ?, updated_at = ? WHERE id = ?", (doc, last_seq, now, job_id))
    else:
        assignments = ", ".join(f"{name} = ?" for name in INDEXED_FIELDS)
        conn.execute(
            f"UPDATE jobs SET doc = ?, {assignments}, last_seq = ?, updated_at = ? WHERE id = ?",
            (doc, *indexed, last_seq, now, job_id),
        )
    if stored:
        conn.executemany(
            "INSERT INTO job_events (job_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
            [(job_id, e.seq, e.type, compact_json(e.data), now) for e in stored],
        )
        if last_seq > EVENT_LOG_CAP:
            conn.execute("DELETE FROM job_events WHERE job_id = ? AND seq <= ?", (job_id, last_seq - EVENT_LOG_CAP))
    at = parse_iso(now)
    flags = job_flags(before, job, at)
    if flags:
        record_flags(conn, flags)
    tallies = job_tallies(before, job, at)
    if tallies:
        record_tallies(conn, tallies)
    queued = sum(insert_outbox(conn, item, now) for item in decision.outbox)
    raised = bool(flags) or any(callback_flags(item.job_id, item.payload, now) for item in decision.outbox)
    return ChangeResult(duplicate=False, job_id=job_id, events=stored, queued=queued, attention=raised)
