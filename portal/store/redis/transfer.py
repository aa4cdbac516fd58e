"""``portal migrate-store`` on Redis: every key of the portal out as plain records, and back in.

Records are in the one format of ``exchange.py``, so either backend can be the source and
the other the target. On the way in the derived keys are rebuilt as the portal itself
writes them (``jobs.py``: the search indexes, the closed-jobs index, the event log; the
outbox's due queues), and what Redis keeps only as an expiry (remembered webhook ids,
conversations) gets what is left of its time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from redis.asyncio.client import Pipeline

from portal.clock import utc_now
from portal.core.attention import Flag, Flags
from portal.core.jobs import Job, iso_utc, parse_iso
from portal.core.tallies import Tally
from portal.store.exchange import FIELDS, Record, event_record, message_from_record, message_record
from portal.store.records import AuditEntry, OutboxItem, Rejection, StoredEvent
from portal.store.redis.insight import DUE, member_parts, queue_flags, queue_tallies
from portal.store.redis.jobs import queue_events, queue_job
from portal.store.redis.keys import (
    WEBHOOK_ID_SECONDS,
    RedisParts,
    event_from_entry,
    fields,
    guarded,
    iso_from_micros,
    micros,
    need,
    record_from_hash,
    strings,
    text,
    wire,
)
from portal.store.redis.outbox import message_from_hash, queue_message, queue_outbox, row_from_hash
from portal.store.redis.replies import CONVERSATION_SECONDS
from portal.store.redis.staff import audit_entry, queue_audit
from portal.store.rules import compact_json

SCAN_COUNT = 500
# Keys whose presence means the store holds data (a fresh store has none of them).
DATA_KEYS = ("jobs-updated", "webhooks", "rejected", "outbox-next", "msg-next", "audit", DUE)
# Kinds kept one key per record, found by scanning for their pattern; the statistics
# counters are one key per quarter hour, a record per counter in it.
SCANNED = {"opt_outs": "opt-out:*", "conversations": "conversation:*", "staff": "staff:*", "tallies": "tally:*"}
# Kinds numbered by a counter (some numbers may be gone), and kinds held in one key.
COUNTED = {"outbox": "outbox-next", "messages": "msg-next"}
HELD = {"jobs": "jobs-updated", "webhook_ids": "webhooks", "rejections": "rejected", "audit": "audit", "attention": DUE}


class RedisTransferQueries(RedisParts):
    """Mixed into ``RedisStore``."""

    @guarded
    async def is_empty(self) -> bool:
        if await self.redis.exists(*[self.keys(name) for name in DATA_KEYS]):
            return False
        for pattern in SCANNED.values():
            async for _ in self._scan(pattern):
                return False
        return True

    @guarded
    async def count_records(self, kind: str) -> int:
        """How many records ``export_records`` yields; for the outbox and messages, at most that many."""
        if kind == "tallies":
            return sum([await self.redis.hlen(self.keys(key)) async for key in self._scan(SCANNED[kind])])
        if kind in SCANNED:
            return len([key async for key in self._scan(SCANNED[kind])])
        if kind in COUNTED:
            return await self._counter(COUNTED[kind])
        key = self.keys(HELD[kind])
        if kind == "rejections":
            return int(await self.redis.llen(key))
        if kind == "audit":
            return int(await self.redis.hlen(key))
        return int(await self.redis.zcard(key))

    async def export_records(self, kind: str) -> AsyncIterator[Record]:
        async for record in EXPORTS[kind](self):
            yield record

    @guarded
    async def import_record(self, kind: str, record: Record) -> None:
        async with self.pipeline() as pipe:
            await IMPORTS[kind](self, pipe, record)
            await pipe.execute()

    async def _scan(self, pattern: str) -> AsyncIterator[str]:
        async for key in self.redis.scan_iter(match=self.keys(pattern), count=SCAN_COUNT):
            yield need(key)[len(self.keys.prefix) :]

    async def _counter(self, name: str) -> int:
        return int(text(await self.redis.get(self.keys(name))) or 0)

    # -- out ------------------------------------------------------------------------

    async def _export_jobs(self) -> AsyncIterator[Record]:
        redis, keys = self.redis, self.keys
        for job_id in [need(j) for j in await redis.zrange(keys("jobs-updated"), 0, -1)]:
            raw = strings(await redis.hgetall(keys.job(job_id)))
            if not raw:
                continue
            links = []
            for key in [need(k) for k in await redis.lrange(keys.job_links(job_id), 0, -1)]:
                link = strings(await redis.hgetall(keys.link(key)))
                links.append({"key": key, "created_at": link.get("created_at"), "revoked_at": link.get("revoked_at")})
            record = record_from_hash(raw)
            entries = await redis.xrange(keys.events(job_id)) or []  # the whole log, capped or not
            yield {
                "id": job_id,
                "doc": json.loads(raw["doc"]),
                "link_key": record.link_key,
                "last_seq": record.last_seq,
                "created_at": record.created_at,
                "updated_at": record.updated_at,
                "links": links,
                "events": [event_record(event_from_entry(job_id, *entry)) for entry in entries],
            }

    async def _export_webhook_ids(self) -> AsyncIterator[Record]:
        remembered: list[Any] = await self.redis.zrange(self.keys("webhooks"), 0, -1, withscores=True)
        for webhook_id, score in remembered:
            yield {"id": need(webhook_id), "received_at": iso_from_micros(float(score))}

    async def _export_rejections(self) -> AsyncIterator[Record]:
        for row in reversed(await self.redis.lrange(self.keys("rejected"), 0, -1)):
            yield asdict(Rejection(*json.loads(need(row))))

    async def _export_outbox(self) -> AsyncIterator[Record]:
        for outbox_id in range(1, await self._counter(COUNTED["outbox"]) + 1):
            raw = strings(await self.redis.hgetall(self.keys.outbox(outbox_id)))
            if raw:
                yield asdict(row_from_hash(outbox_id, raw))

    async def _export_messages(self) -> AsyncIterator[Record]:
        for message_id in range(1, await self._counter(COUNTED["messages"]) + 1):
            raw = strings(await self.redis.hgetall(self.keys.message(message_id)))
            if raw:
                outbox_id = raw.get("outbox_id")
                yield message_record(message_from_hash(message_id, raw), int(outbox_id) if outbox_id else None)

    async def _export_attention(self) -> AsyncIterator[Record]:
        """Every raised reason, due or not, in the order SQLite exports them (job id, reason)."""
        raised: list[Any] = await self.redis.zrange(self.keys(DUE), 0, -1, withscores=True)
        records = []
        for member, score in raised:
            reason, job_id = member_parts(need(member))
            records.append({"job_id": job_id, "reason": reason, "since": iso_from_micros(float(score))})
        for record in sorted(records, key=lambda r: (r["job_id"], r["reason"])):
            yield record

    async def _export_tallies(self) -> AsyncIterator[Record]:
        """Every counter of every quarter hour, in the order SQLite exports them (bucket, name)."""
        buckets = sorted([int(key.removeprefix("tally:")) async for key in self._scan(SCANNED["tallies"])])
        for bucket in buckets:
            counters = strings(await self.redis.hgetall(self.keys("tally", str(bucket))))
            for name in sorted(counters):
                yield {"bucket": bucket, "name": name, "amount": float(counters[name])}

    async def _export_opt_outs(self) -> AsyncIterator[Record]:
        async for key in self._scan(SCANNED["opt_outs"]):
            channel, source, created_at = json.loads(need(await self.redis.get(self.keys(key))))
            address = key.removeprefix("opt-out:")
            yield {"address": address, "channel": channel, "source": source, "created_at": created_at}

    async def _export_conversations(self) -> AsyncIterator[Record]:
        async for key in self._scan(SCANNED["conversations"]):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.get(self.keys(key))
                pipe.pttl(self.keys(key))
                state, ttl_ms = await pipe.execute()
            if state is None:
                continue  # expired while the copy ran
            # Redis keeps no write time, only the key's expiry: the write time is what it implies.
            age = timedelta(seconds=CONVERSATION_SECONDS) - timedelta(milliseconds=max(int(ttl_ms), 0))
            updated_at = iso_utc(utc_now() - age)
            yield {
                "phone": key.removeprefix("conversation:"),
                "state": json.loads(need(state)),
                "updated_at": updated_at,
            }

    async def _export_staff(self) -> AsyncIterator[Record]:
        async for key in self._scan(SCANNED["staff"]):
            raw = strings(await self.redis.hgetall(self.keys(key)))
            names = ("password_hash", "timezone", "created_at", "updated_at")
            yield {"username": key.removeprefix("staff:"), **{name: raw[name] for name in names}}

    async def _export_audit(self) -> AsyncIterator[Record]:
        rows = strings(await self.redis.hgetall(self.keys("audit")))
        for entry_id in sorted(rows, key=int):
            yield asdict(audit_entry(int(entry_id), rows[entry_id]))

    # -- in -------------------------------------------------------------------------

    async def _import_job(self, pipe: Pipeline, r: Record) -> None:
        keys, job_id = self.keys, r["id"]
        job_stamps = {name: str(r[name]) for name in ("link_key", "last_seq", "created_at", "updated_at")}
        queue_job(pipe, keys, job_id, Job.from_dict(r["doc"]), compact_json(r["doc"]), job_stamps, None)
        for link in r["links"]:
            stamps = fields(job_id=job_id, created_at=link["created_at"], revoked_at=link["revoked_at"])
            pipe.hset(keys.link(link["key"]), mapping=wire(stamps))
            pipe.rpush(keys.job_links(job_id), link["key"])
        queue_events(pipe, keys, job_id, [StoredEvent(job_id=job_id, **event) for event in r["events"]])

    async def _import_webhook_id(self, pipe: Pipeline, r: Record) -> None:
        left = parse_iso(r["received_at"]) + timedelta(seconds=WEBHOOK_ID_SECONDS) - utc_now()
        if left.total_seconds() < 1:
            return  # past its retention: the portal would have forgotten it
        pipe.set(self.keys.webhook(r["id"]), r["received_at"], ex=int(left.total_seconds()))
        pipe.zadd(self.keys("webhooks"), {r["id"]: micros(r["received_at"])})

    async def _import_rejection(self, pipe: Pipeline, r: Record) -> None:
        pipe.lpush(self.keys("rejected"), json.dumps([r[name] for name in FIELDS["rejections"]]))

    async def _import_outbox(self, pipe: Pipeline, r: Record) -> None:
        keys, outbox_id = self.keys, int(r["id"])
        item = OutboxItem(r["dedup_key"], r["kind"], r["job_id"], r["payload"])
        queue_outbox(pipe, keys, outbox_id, item, r["created_at"], flag=False)  # the queue comes as it stands
        state = fields(
            state=r["state"],
            attempts=str(r["attempts"]),
            next_attempt_at=r["next_attempt_at"],
            last_error=r["last_error"],
            lease_until=r["lease_until"],
            updated_at=r["updated_at"],
        )
        pipe.hset(keys.outbox(outbox_id), mapping=wire(state))
        if r["state"] == "pending":
            pipe.zadd(keys.due(r["kind"]), {str(outbox_id): micros(r["next_attempt_at"])})
        else:
            pipe.zrem(keys.due(r["kind"]), str(outbox_id))
        pipe.set(keys("outbox-next"), str(outbox_id))  # rows come in id order

    async def _import_message(self, pipe: Pipeline, r: Record) -> None:
        message, outbox_id = message_from_record(r), r["outbox_id"]
        queue_message(pipe, self.keys, message.id, message, outbox_id)
        if outbox_id is not None:
            pipe.hset(self.keys.outbox(outbox_id), "message_id", str(message.id))
        pipe.set(self.keys("msg-next"), str(max(message.id, await self._counter("msg-next"))))

    async def _import_attention(self, pipe: Pipeline, r: Record) -> None:
        queue_flags(pipe, self.keys, Flags((Flag(r["job_id"], r["reason"], r["since"]),)))

    async def _import_tally(self, pipe: Pipeline, r: Record) -> None:
        queue_tallies(pipe, self.keys, [Tally(int(r["bucket"]), r["name"], float(r["amount"]))])

    async def _import_opt_out(self, pipe: Pipeline, r: Record) -> None:
        value = json.dumps([r["channel"], r["source"], r["created_at"]])
        pipe.set(self.keys("opt-out", r["address"]), value)

    async def _import_conversation(self, pipe: Pipeline, r: Record) -> None:
        age = utc_now() - parse_iso(r["updated_at"])
        remaining = int(CONVERSATION_SECONDS - age.total_seconds())
        if remaining < 1:
            return  # older than the grammar's memory: the portal would not use it
        pipe.set(self.keys("conversation", r["phone"]), json.dumps(r["state"]), ex=remaining)

    async def _import_staff(self, pipe: Pipeline, r: Record) -> None:
        mapping = {name: r[name] for name in ("password_hash", "timezone", "created_at", "updated_at")}
        pipe.hset(self.keys("staff", r["username"]), mapping=wire(mapping))

    async def _import_audit(self, pipe: Pipeline, r: Record) -> None:
        entry = AuditEntry(**r)
        queue_audit(pipe, self.keys, entry.id, entry)
        pipe.set(self.keys("audit-next"), str(max(entry.id, await self._counter("audit-next"))))


Exporter = Callable[[RedisTransferQueries], AsyncIterator[Record]]
Importer = Callable[[RedisTransferQueries, Pipeline, Record], Awaitable[None]]
EXPORTS: dict[str, Exporter] = {
    "jobs": RedisTransferQueries._export_jobs,
    "webhook_ids": RedisTransferQueries._export_webhook_ids,
    "rejections": RedisTransferQueries._export_rejections,
    "outbox": RedisTransferQueries._export_outbox,
    "messages": RedisTransferQueries._export_messages,
    "attention": RedisTransferQueries._export_attention,
    "tallies": RedisTransferQueries._export_tallies,
    "opt_outs": RedisTransferQueries._export_opt_outs,
    "conversations": RedisTransferQueries._export_conversations,
    "staff": RedisTransferQueries._export_staff,
    "audit": RedisTransferQueries._export_audit,
}
IMPORTS: dict[str, Importer] = {
    "jobs": RedisTransferQueries._import_job,
    "webhook_ids": RedisTransferQueries._import_webhook_id,
    "rejections": RedisTransferQueries._import_rejection,
    "outbox": RedisTransferQueries._import_outbox,
    "messages": RedisTransferQueries._import_message,
    "attention": RedisTransferQueries._import_attention,
    "tallies": RedisTransferQueries._import_tally,
    "opt_outs": RedisTransferQueries._import_opt_out,
    "conversations": RedisTransferQueries._import_conversation,
    "staff": RedisTransferQueries._import_staff,
    "audit": RedisTransferQueries._import_audit,
}
