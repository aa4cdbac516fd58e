"""Reading and writing a whole Redis store, record by record, for ``portal migrate-store``.

Records are plain dicts shaped like the SQLite rows (see ``transfer.py``), so either store
can be the source and the other the target. Ids are kept, so messages still point at their
outbox rows and audit entries keep their order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from portal.core.attention import Flag, Flags
from portal.core.jobs import Job, iso_utc, parse_iso
from portal.core.tallies import Tally
from portal.store.base import Message, OutboxItem, StoredEvent
from portal.store.redis.insight import queue_flags, queue_tallies
from portal.store.redis.keys import fields, iso_from_micros, micros, need, strings, text, wire
from portal.store.redis.outbox import message_from_hash, queue_message, queue_outbox
from portal.store.redis.purge import queue_closed
from portal.store.redis.replies import CONVERSATION_SECONDS
from portal.store.redis.search import queue_index, search_fields
from portal.store.redis.store import EVENT_LOG_TTL_SECONDS, WEBHOOK_ID_SECONDS, RedisStore, record_from_hash

Record = dict[str, Any]
SCAN_COUNT = 500
# Keys whose presence means the store holds data (a fresh store has none of them).
DATA_KEYS = ("jobs-updated", "webhooks", "rejected", "outbox-next", "msg-next", "audit", "attention-due")
DATA_PATTERNS = ("staff:*", "opt-out:*", "conversation:*", "tally:*")


class RedisTransfer:
    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.keys = store.keys

    async def is_empty(self) -> bool:
        if await self.store.redis.exists(*[self.keys(name) for name in DATA_KEYS]):
            return False
        for pattern in DATA_PATTERNS:
            async for _ in self._scan(pattern):
                return False
        return True

    async def count(self, kind: str) -> int:
        """How many records ``read`` will yield; for the outbox and messages, at most that many."""
        redis, keys = self.store.redis, self.keys
        if kind in ("jobs", "webhook_ids"):
            return int(await redis.zcard(keys("jobs-updated" if kind == "jobs" else "webhooks")))
        if kind == "rejections":
            return int(await redis.llen(keys("rejected")))
        if kind in ("outbox", "messages"):
            return await self._counter("outbox-next" if kind == "outbox" else "msg-next")
        if kind == "audit":
            return int(await redis.hlen(keys("audit")))
        if kind == "attention":
            return int(await redis.zcard(keys("attention-due")))
        pattern = {
            "tallies": "tally:*",
            "opt_outs": "opt-out:*",
            "conversations": "conversation:*",
            "staff": "staff:*",
        }[kind]
        return len([key async for key in self._scan(pattern)])

    async def _scan(self, pattern: str) -> AsyncIterator[str]:
        async for key in self.store.redis.scan_iter(match=self.keys(pattern), count=SCAN_COUNT):
            yield need(key)[len(self.keys.prefix) :]

    async def _counted(self, counter: str) -> list[int]:
        return list(range(1, int(text(await self.store.redis.get(self.keys(counter))) or 0) + 1))

    # -- reading --------------------------------------------------------------------

    async def read(self, kind: str) -> AsyncIterator[Record]:
        redis, keys = self.store.redis, self.keys
        if kind == "jobs":
            for job_id in await self.store.job_ids():
                raw = strings(await redis.hgetall(keys.job(job_id)))
                if not raw:
                    continue
                links = []
                for key in await redis.lrange(keys.job_links(job_id), 0, -1):
                    link = strings(await redis.hgetall(keys.link(need(key))))
                    links.append((need(key), link.get("created_at"), link.get("revoked_at")))
                events = await self.store.events_after(job_id, 0) or []
                record = record_from_hash(raw)
                yield {
                    "id": job_id,
                    "doc": raw["doc"],
                    "link_key": record.link_key,
                    "last_seq": record.last_seq,
                    "created_at": record.created_at,
                    "updated_at": record.updated_at,
                    "links": links,
                    "events": events,
                }
        elif kind == "webhook_ids":
            remembered: list[Any] = await redis.zrange(keys("webhooks"), 0, -1, withscores=True)
            for webhook_id, score in remembered:
                yield {"id": need(webhook_id), "received_at": iso_from_micros(float(score))}
        elif kind == "rejections":
            for row in reversed(await redis.lrange(keys("rejected"), 0, -1)):
                yield {"row": json.loads(need(row))}
        elif kind == "outbox":
            for outbox_id in await self._counted("outbox-next"):
                raw = strings(await redis.hgetall(keys.outbox(outbox_id)))
                if raw:
                    yield {"id": outbox_id, **raw, "payload": json.loads(raw["payload"])}
        elif kind == "messages":
            for message_id in await self._counted("msg-next"):
                raw = strings(await redis.hgetall(keys.message(message_id)))
                if raw:
                    yield {"message": message_from_hash(message_id, raw), "outbox_id": raw.get("outbox_id")}
        elif kind == "opt_outs":
            async for key in self._scan("opt-out:*"):
                channel, source, created_at = json.loads(need(await redis.get(keys(key))))
                yield {"address": key.removeprefix("opt-out:"), "channel": channel, "source": source, "at": created_at}
        elif kind == "conversations":
            async for key in self._scan("conversation:*"):
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.get(keys(key))
                    pipe.pttl(keys(key))
                    state, ttl_ms = await pipe.execute()
                if state is None:
                    continue  # expired while the copy ran
                # Redis keeps no write time, only the key's expiry: the write time is what it implies.
                age = timedelta(seconds=CONVERSATION_SECONDS) - timedelta(milliseconds=max(int(ttl_ms), 0))
                updated_at = iso_utc(datetime.now(UTC) - age)
                yield {
                    "phone": key.removeprefix("conversation:"),
                    "state": json.loads(need(state)),
                    "updated_at": updated_at,
                }
        elif kind == "staff":
            async for key in self._scan("staff:*"):
                raw = strings(await redis.hgetall(keys(key)))
                yield {"username": key.removeprefix("staff:"), **raw}
        elif kind == "audit":
            rows = strings(await redis.hgetall(keys("audit")))
            for entry_id in sorted(rows, key=int):
                yield {"id": int(entry_id), "row": json.loads(rows[entry_id])}
        elif kind == "attention":
            due: list[Any] = await redis.zrange(keys("attention-due"), 0, -1, withscores=True)
            for member, score in due:
                reason, _, job_id = need(member).partition(":")
                yield {"job_id": job_id, "reason": reason, "since": iso_from_micros(float(score))}
        elif kind == "tallies":
            async for key in self._scan("tally:*"):
                counts = {name: float(amount) for name, amount in strings(await redis.hgetall(keys(key))).items()}
                yield {"bucket": int(key.removeprefix("tally:")), "counts": counts}

    # -- writing --------------------------------------------------------------------

    async def write(self, kind: str, record: Record) -> None:
        async with self.store.pipeline() as pipe:
            keys = self.keys
            if kind == "jobs":
                self._queue_job(pipe, record)
            elif kind == "attention":
                queue_flags(pipe, keys, Flags((Flag(record["job_id"], record["reason"], record["since"]),)))
            elif kind == "tallies":
                counts = record["counts"].items()
                queue_tallies(pipe, keys, [Tally(record["bucket"], name, amount) for name, amount in counts])
            elif kind == "webhook_ids":
                left = parse_iso(record["received_at"]) + timedelta(seconds=WEBHOOK_ID_SECONDS) - datetime.now(UTC)
                if left.total_seconds() < 1:
                    return
                pipe.set(keys.webhook(record["id"]), record["received_at"], ex=int(left.total_seconds()))
                pipe.zadd(keys("webhooks"), {record["id"]: micros(record["received_at"])})
            elif kind == "rejections":
                pipe.lpush(keys("rejected"), json.dumps(record["row"]))
            elif kind == "outbox":
                self._queue_outbox(pipe, record)
            elif kind == "messages":
                message: Message = record["message"]
                outbox_id = int(record["outbox_id"]) if record.get("outbox_id") else None
                queue_message(pipe, keys, message.id, message, outbox_id)
                if outbox_id is not None:
                    pipe.hset(keys.outbox(outbox_id), "message_id", str(message.id))
                pipe.set(keys("msg-next"), str(max(message.id, await self._counter("msg-next"))))
            elif kind == "opt_outs":
                value = json.dumps([record["channel"], record["source"], record["at"]])
                pipe.set(keys("opt-out", record["address"]), value)
            elif kind == "conversations":
                age = datetime.now(UTC) - parse_iso(record["updated_at"])
                remaining = int(CONVERSATION_SECONDS - age.total_seconds())
                if remaining < 1:
                    return  # older than the grammar's memory: the portal would not use it
                pipe.set(keys("conversation", record["phone"]), json.dumps(record["state"]), ex=remaining)
            elif kind == "staff":
                mapping = {name: record[name] for name in ("password_hash", "timezone", "created_at", "updated_at")}
                pipe.hset(keys("staff", record["username"]), mapping=wire(mapping))
            elif kind == "audit":
                entry_id, row = record["id"], record["row"]
                pipe.hset(keys("audit"), str(entry_id), json.dumps(row))
                pipe.zadd(keys("audit-all"), {str(entry_id): entry_id})
                pipe.zadd(keys("audit-user", row[1]), {str(entry_id): entry_id})
                if row[3] is not None:
                    pipe.zadd(keys("audit-job", row[3]), {str(entry_id): entry_id})
                pipe.set(keys("audit-next"), str(max(entry_id, await self._counter("audit-next"))))
            await pipe.execute()

    async def _counter(self, name: str) -> int:
        return int(text(await self.store.redis.get(self.keys(name))) or 0)

    def _queue_job(self, pipe: Any, record: Record) -> None:
        keys, job_id = self.keys, record["id"]
        job = Job.from_dict(json.loads(record["doc"]))
        values = search_fields(job)
        mapping = fields(
            doc=record["doc"],
            link_key=record["link_key"],
            last_seq=str(record["last_seq"]),
            created_at=record["created_at"],
            updated_at=record["updated_at"],
            status=job.status,
            closed_at=job.closed_at,
            **values,
        )
        pipe.hset(keys.job(job_id), mapping=wire(mapping))
        queue_index(pipe, keys, job_id, None, values)
        pipe.zadd(keys("jobs-updated"), {job_id: micros(record["updated_at"])})
        queue_closed(pipe, keys, job_id, job.closed_at)
        for key, created_at, revoked_at in record["links"]:
            pipe.hset(keys.link(key), mapping=wire(fields(job_id=job_id, created_at=created_at, revoked_at=revoked_at)))
            pipe.rpush(keys.job_links(job_id), key)
        event: StoredEvent
        for event in record["events"]:
            entry = {"type": event.type, "data": json.dumps(event.data, separators=(",", ":")), "at": event.at}
            pipe.xadd(keys.events(job_id), wire(entry), id=f"{event.seq}-0")
        if record["events"]:
            pipe.expire(keys.events(job_id), EVENT_LOG_TTL_SECONDS)

    def _queue_outbox(self, pipe: Any, record: Record) -> None:
        keys, outbox_id = self.keys, int(record["id"])
        item = OutboxItem(record["dedup_key"], record["kind"], record.get("job_id"), record["payload"])
        queue_outbox(pipe, keys, outbox_id, item, record["created_at"])
        state = fields(
            state=record["state"],
            attempts=str(record["attempts"]),
            next_attempt_at=record["next_attempt_at"],
            last_error=record.get("last_error"),
            lease_until=record.get("lease_until"),
            updated_at=record["updated_at"],
        )
        pipe.hset(keys.outbox(outbox_id), mapping=wire(state))
        if record["state"] == "pending":
            pipe.zadd(keys.due(record["kind"]), {str(outbox_id): micros(record["next_attempt_at"])})
        else:
            pipe.zrem(keys.due(record["kind"]), str(outbox_id))
        pipe.set(keys("outbox-next"), str(outbox_id))  # rows come in id order
