"""Retention on Redis: deleting the personal data of jobs closed long ago, a job at a time.

Closed jobs are indexed by when they closed (the ``jobs-closed`` sorted set, kept by the job
change's own transaction), so a purge reads the oldest few from it and never walks the
keyspace. Each job goes in its own WATCH/MULTI transaction: Redis is never held up for more
than one job's keys, and a job changed meanwhile is read again (or kept, if it reopened).
"""

from __future__ import annotations

from redis.asyncio.client import Pipeline

from portal.store.redis.insight import queue_forget
from portal.store.redis.keys import Keys, RedisParts, begin, guarded, micros, need, strings, text
from portal.store.redis.search import queue_unindex
from portal.store.rules import SEARCH_FIELDS

CLOSED_INDEX = "jobs-closed"


def queue_closed(pipe: Pipeline, keys: Keys, job_id: str, closed_at: str | None) -> None:
    """Keep the job's entry in the closed-jobs index (inside its MULTI)."""
    if closed_at is None:
        pipe.zrem(keys(CLOSED_INDEX), job_id)
    else:
        pipe.zadd(keys(CLOSED_INDEX), {job_id: micros(closed_at)})


class RedisPurgeQueries(RedisParts):
    """Mixed into ``RedisStore``."""

    @guarded
    async def purge_closed_jobs(self, closed_before: str, limit: int) -> int:
        if limit <= 0:
            return 0
        cutoff = micros(closed_before)
        found = await self.redis.zrangebyscore(self.keys(CLOSED_INDEX), "-inf", f"({cutoff}", start=0, num=limit)
        purged = 0
        for job_id in [need(member) for member in found]:
            purged += await self._purge_one(job_id, cutoff)
        return purged

    async def _purge_one(self, job_id: str, cutoff: int) -> bool:
        return await self.transact(lambda pipe: self._purge(pipe, job_id, cutoff))

    async def _purge(self, pipe: Pipeline, job_id: str, cutoff: int) -> bool:
        keys = self.keys
        job_key = keys.job(job_id)
        lists = (keys.job_links(job_id), keys.job_messages(job_id), keys.job_outbox(job_id))
        await pipe.watch(job_key, *lists, keys("attention", job_id))
        raw = strings(await pipe.hgetall(job_key))
        closed_at = raw.get("closed_at")
        if closed_at is not None and micros(closed_at) >= cutoff:
            return False
        if not raw or closed_at is None:
            begin(pipe)  # gone or reopened: only the index entry was out of date
            pipe.zrem(keys(CLOSED_INDEX), job_id)
            return False
        link_keys = [need(k) for k in await pipe.lrange(lists[0], 0, -1)]
        message_ids = [need(m) for m in await pipe.lrange(lists[1], 0, -1)]
        outbox_ids = [need(o) for o in await pipe.lrange(lists[2], 0, -1)]
        messages = [keys.message(m) for m in message_ids]
        rows = [keys.outbox(o) for o in outbox_ids]
        phone = raw.get("phone")
        phone_index = keys("idx-phone", phone) if phone else None
        watched = [*messages, *rows, *([phone_index] if phone_index else [])]
        if watched:
            await pipe.watch(*watched)
        providers = [text(await pipe.hget(key, "provider_id")) for key in messages]
        outbox = []
        for key in rows:
            kind, dedup = await pipe.hmget(key, ["kind", "dedup_key"])
            outbox.append((text(kind), text(dedup)))
        others = {need(m) for m in await pipe.smembers(phone_index)} - {job_id} if phone_index else set()
        reasons = [need(r) for r in await pipe.hkeys(keys("attention", job_id))]
        begin(pipe)
        queue_forget(pipe, keys, job_id, reasons)
        pipe.delete(job_key, keys.events(job_id), *lists, *[keys.link(k) for k in link_keys], *messages, *rows)
        gone = [keys.provider(p) for p in providers if p] + [keys.outbox_key(d) for _, d in outbox if d]
        if gone:
            pipe.delete(*gone)
        for outbox_id, (kind, _) in zip(outbox_ids, outbox, strict=True):
            if kind is not None:
                pipe.zrem(keys.due(kind), outbox_id)
        pipe.zrem(keys("jobs-updated"), job_id)
        pipe.zrem(keys(CLOSED_INDEX), job_id)
        queue_unindex(pipe, keys, job_id, {name: raw.get(name) for name in SEARCH_FIELDS})
        if phone and not others:
            pipe.delete(keys("conversation", phone))  # nobody else's conversation: it only concerned this job
        return True
