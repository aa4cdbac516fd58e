"""``portal migrate-store --from URL --to URL``: copy every record from one store to another.

For the operator who outgrows one machine (SQLite to Redis) or goes back (Redis to SQLite).
Jobs with their link keys (revoked ones too) and event logs, remembered webhook ids, rejected
webhooks, the outbox (pending rows stay pending), the message history, opt-outs, the SMS
conversation state of each phone, staff accounts, the audit log, the staff's attention queue and
the statistics counters are copied with their ids.
On a Redis target the derived keys are rebuilt as the portal itself writes them: the search
indexes, the ``jobs-closed`` index of the retention purge and the outbox's due queues.

Not copied, on purpose: staff sessions (staff sign in again), and what only lives for
seconds or minutes on Redis (rate-limit and throttle counters). The target must be empty,
and the portal should be stopped while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, TextIO

from portal.core.attention import Flag, Flags
from portal.core.jobs import Job
from portal.core.tallies import Tally
from portal.settings import ConfigError, Settings
from portal.store import open_store
from portal.store.base import Message, Store, StoredEvent, StoreUnavailable
from portal.store.redis.search import search_fields
from portal.store.redis.store import RedisStore
from portal.store.sqlite.insight import record_flags, record_tallies
from portal.store.sqlite.messages import message_from_row
from portal.store.sqlite.store import SQLiteStore
from portal.store.transfer.progress import Progress
from portal.store.transfer.redis import Record, RedisTransfer

# In this order: outbox rows before the messages that point at them.
KINDS = (
    "jobs",
    "webhook_ids",
    "rejections",
    "outbox",
    "messages",
    "opt_outs",
    "conversations",
    "staff",
    "audit",
    "attention",
    "tallies",
)
STORE_SCHEMES = ("sqlite:///", "redis://", "rediss://")
# The SQLite table each kind is read from.
TABLES = {
    "jobs": "jobs",
    "webhook_ids": "webhook_ids",
    "rejections": "rejected_webhooks",
    "outbox": "outbox",
    "messages": "messages",
    "opt_outs": "opt_outs",
    "conversations": "conversations",
    "staff": "staff_accounts",
    "audit": "staff_audit",
    "attention": "attention",
    "tallies": "tallies",
}
MESSAGE_SELECT = (
    "SELECT id, job_id, channel, direction, to_addr, from_addr, body, status, provider_id, error, meta,"
    " created_at, updated_at, outbox_id FROM messages ORDER BY id"
)
OUTBOX_SELECT = (
    "SELECT id, dedup_key, kind, job_id, payload, state, attempts, next_attempt_at, lease_until, last_error,"
    " created_at, updated_at FROM outbox ORDER BY id"
)


class SQLiteTransfer:
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def is_empty(self) -> bool:
        def count(conn: sqlite3.Connection) -> int:
            return sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES.values())

        return await self.store.read(count) == 0

    async def count(self, kind: str) -> int:
        sql = f"SELECT COUNT({'DISTINCT bucket' if kind == 'tallies' else '*'}) FROM {TABLES[kind]}"
        found: int = await self.store.read(lambda c: c.execute(sql).fetchone()[0])
        return found

    async def _rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return await self.store.read(lambda c: c.execute(sql, params).fetchall())

    async def read(self, kind: str) -> AsyncIterator[Record]:
        if kind == "jobs":
            for job_id, doc, key, last_seq, created, updated in await self._rows(
                "SELECT id, doc, link_key, last_seq, created_at, updated_at FROM jobs ORDER BY updated_at"
            ):
                links = await self._rows(
                    "SELECT key, created_at, revoked_at FROM link_keys WHERE job_id = ? ORDER BY created_at", job_id
                )
                events = await self.store.events_after(job_id, 0) or []
                yield {
                    "id": job_id,
                    "doc": doc,
                    "link_key": key,
                    "last_seq": last_seq,
                    "created_at": created,
                    "updated_at": updated,
                    "links": [tuple(link) for link in links],
                    "events": events,
                }
        elif kind == "webhook_ids":
            for webhook_id, received_at in await self._rows("SELECT id, received_at FROM webhook_ids"):
                yield {"id": webhook_id, "received_at": received_at}
        elif kind == "rejections":
            columns = "received_at, status_code, reason, webhook_id, detail, excerpt"
            for row in await self._rows(f"SELECT {columns} FROM rejected_webhooks ORDER BY id"):
                yield {"row": list(row)}
        elif kind == "outbox":
            names = [n.strip() for n in OUTBOX_SELECT.removeprefix("SELECT ").split(" FROM")[0].split(",")]
            for row in await self._rows(OUTBOX_SELECT):
                record = dict(zip(names, row, strict=True))
                yield {**record, "payload": json.loads(record["payload"])}
        elif kind == "messages":
            for row in await self._rows(MESSAGE_SELECT):
                yield {"message": message_from_row(row[:13]), "outbox_id": row[13]}
        elif kind == "opt_outs":
            for address, channel, source, at in await self._rows(
                "SELECT address, channel, source, created_at FROM opt_outs"
            ):
                yield {"address": address, "channel": channel, "source": source, "at": at}
        elif kind == "conversations":
            for phone, state, updated_at in await self._rows("SELECT phone, state, updated_at FROM conversations"):
                yield {"phone": phone, "state": json.loads(state), "updated_at": updated_at}
        elif kind == "staff":
            columns = "username, password_hash, timezone, created_at, updated_at"
            for row in await self._rows(f"SELECT {columns} FROM staff_accounts"):
                yield dict(zip([c.strip() for c in columns.split(",")], row, strict=True))
        elif kind == "audit":
            for audit_row in await self._rows(
                "SELECT id, at, username, action, job_id, client, detail FROM staff_audit ORDER BY id"
            ):
                yield {"id": audit_row[0], "row": list(audit_row[1:])}
        elif kind == "attention":
            for job_id, reason, since in await self._rows("SELECT job_id, reason, since FROM attention"):
                yield {"job_id": job_id, "reason": reason, "since": since}
        elif kind == "tallies":
            counts: dict[int, dict[str, float]] = {}
            for bucket, name, amount in await self._rows("SELECT bucket, name, amount FROM tallies"):
                counts.setdefault(int(bucket), {})[str(name)] = float(amount)
            for bucket, named in counts.items():
                yield {"bucket": bucket, "counts": named}

    async def write(self, kind: str, record: Record) -> None:
        await self.store.write(lambda conn: _insert(conn, kind, record))


def _insert(conn: sqlite3.Connection, kind: str, r: Record) -> None:
    if kind in ("attention", "tallies"):
        _insert_insight(conn, kind, r)
    elif kind == "jobs":
        job = Job.from_dict(json.loads(r["doc"]))
        values = search_fields(job)
        conn.execute(
            "INSERT INTO jobs (id, link_key, doc, status, closed_at, reference, phone, email, name, last_seq,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (r["id"], r["link_key"], r["doc"], job.status, job.closed_at, *values.values(), *_stamps(r)),
        )
        for key, created_at, revoked_at in r["links"]:
            conn.execute(
                "INSERT INTO link_keys (key, job_id, created_at, revoked_at) VALUES (?, ?, ?, ?)",
                (key, r["id"], created_at, revoked_at),
            )
        event: StoredEvent
        for event in r["events"]:
            conn.execute(
                "INSERT INTO job_events (job_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
                (r["id"], event.seq, event.type, json.dumps(event.data, separators=(",", ":")), event.at),
            )
    elif kind == "webhook_ids":
        conn.execute("INSERT INTO webhook_ids (id, received_at) VALUES (?, ?)", (r["id"], r["received_at"]))
    elif kind == "rejections":
        conn.execute(
            "INSERT INTO rejected_webhooks (received_at, status_code, reason, webhook_id, detail, excerpt)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            r["row"],
        )
    elif kind == "outbox":
        conn.execute(
            "INSERT INTO outbox (id, dedup_key, kind, job_id, payload, state, attempts, next_attempt_at,"
            " lease_until, last_error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                int(r["id"]),
                r["dedup_key"],
                r["kind"],
                r.get("job_id"),
                json.dumps(r["payload"]),
                r["state"],
                int(r["attempts"]),
                r["next_attempt_at"],
                r.get("lease_until"),
                r.get("last_error"),
                r["created_at"],
                r["updated_at"],
            ),
        )
    elif kind == "messages":
        m: Message = r["message"]
        conn.execute(
            "INSERT INTO messages (id, job_id, channel, direction, to_addr, from_addr, body, status, provider_id,"
            " error, meta, outbox_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_message_columns(m), json.dumps(m.meta), r["outbox_id"], m.created_at, m.updated_at),
        )
    elif kind == "opt_outs":
        conn.execute(
            "INSERT INTO opt_outs (address, channel, source, created_at) VALUES (?, ?, ?, ?)",
            (r["address"], r["channel"], r["source"], r["at"]),
        )
    elif kind == "conversations":
        conn.execute(
            "INSERT INTO conversations (phone, state, updated_at) VALUES (?, ?, ?)",
            (r["phone"], json.dumps(r["state"]), r["updated_at"]),
        )
    elif kind == "staff":
        conn.execute(
            "INSERT INTO staff_accounts (username, password_hash, timezone, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (r["username"], r["password_hash"], r["timezone"], r["created_at"], r["updated_at"]),
        )
    elif kind == "audit":
        conn.execute(
            "INSERT INTO staff_audit (id, at, username, action, job_id, client, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (r["id"], *r["row"]),
        )


def _insert_insight(conn: sqlite3.Connection, kind: str, r: Record) -> None:
    """The attention queue and the statistics counters (``store/insight.py``)."""
    if kind == "attention":
        record_flags(conn, Flags((Flag(r["job_id"], r["reason"], r["since"]),)))
    else:
        record_tallies(conn, [Tally(r["bucket"], name, amount) for name, amount in r["counts"].items()])


def _message_columns(m: Message) -> tuple[Any, ...]:
    return (m.id, m.job_id, m.channel, m.direction, m.to_addr, m.from_addr, m.body, m.status, m.provider_id, m.error)


def _stamps(r: Record) -> tuple[Any, ...]:
    return (r["last_seq"], r["created_at"], r["updated_at"])


def transfer_for(store: Store) -> SQLiteTransfer | RedisTransfer:
    if isinstance(store, SQLiteStore):
        return SQLiteTransfer(store)
    if isinstance(store, RedisStore):
        return RedisTransfer(store)
    raise ConfigError(f"cannot migrate a {type(store).__name__}")


async def migrate_store(source: Store, target: Store, progress: Progress) -> dict[str, int]:
    """Copy every record, telling ``progress`` how far it got. Returns counts per kind."""
    reader, writer = transfer_for(source), transfer_for(target)
    if not await writer.is_empty():
        raise ConfigError("--to: the target store already holds data; migrate into an empty store")
    progress.start({kind: await reader.count(kind) for kind in KINDS})
    counts: dict[str, int] = {}
    for kind in KINDS:
        count = 0
        async for record in reader.read(kind):
            await writer.write(kind, record)
            count += 1
            progress.step(kind, count)
        counts[kind] = count
        progress.done(kind, count)
    progress.finish()
    return counts


def add_command(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate-store", help="copy all data from one store to another (SQLite to Redis and back)"
    )
    migrate.add_argument("--from", dest="source", required=True, metavar="URL", help="the store to copy from")
    migrate.add_argument("--to", dest="target", required=True, metavar="URL", help="the empty store to copy into")


def run(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stderr) -> int:
    for flag, url in (("--from", args.source), ("--to", args.target)):
        if not url.startswith(STORE_SCHEMES):
            raise ConfigError(f"{flag} must look like sqlite:///path/to/file.db or redis://host:port/db; got {url!r}")
    if args.source == args.target:
        raise ConfigError("--from and --to name the same store")

    async def go() -> int:
        source = open_store(replace(settings, store_url=args.source))
        target = open_store(replace(settings, store_url=args.target))
        await source.open()
        await target.open()
        try:
            print(f"portal: copying {_shown(args.source)} to {_shown(args.target)}", file=out)
            counts = await migrate_store(source, target, Progress(out))
        except StoreUnavailable as exc:
            print(f"portal: a store is unavailable: {exc}", file=out)
            return 1
        finally:
            await target.close()
            await source.close()
        print(f"portal: done, {sum(counts.values())} records copied", file=out)
        return 0

    return asyncio.run(go())


def _shown(url: str) -> str:
    return url.split("@")[-1]
