"""The shared store for several processes: Redis hashes, sets, sorted sets and streams.

A change to a job is optimistic: read the job and its webhook id, run the pure ``decide`` in
Python, then write the job, its search indexes, its event log and its outbox rows, and
publish its live events when the Redis bus asked for that (``announce``), in one script that
first checks nothing moved since the read (``checked.py``). If another process changed the
job or took a key in between, the script writes nothing and the change runs again on the
fresh job. The webhook id is claimed by the same script, so it is only taken when the change
is stored. Other changes (a link rotated, a delivery recorded) are WATCH/MULTI transactions.

One connection pool per process; every method turns a lost connection into
StoreUnavailable (webhooks answer 503, ``/readyz`` 503), and the pool reconnects by itself
when Redis is back. Other modules hold the other parts: ``search.py`` (staff search),
``staff.py`` (accounts, sessions, audit), ``outbox.py`` (the delivery queue),
``replies.py`` (two-way SMS), ``purge.py`` (retention), ``transfer.py`` (migrate-store), and
``jobs.py`` the keys of one job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import astuple
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import WatchError

from portal.clock import now_iso
from portal.core.attention import callback_flags, job_flags
from portal.core.jobs import parse_iso
from portal.core.tallies import job_tallies, message_tallies
from portal.links import new_link_key
from portal.store.records import (
    ChangeResult,
    Decide,
    JobRecord,
    LinkKeyInfo,
    LinkLookup,
    Message,
    Rejection,
    StoredEvent,
)
from portal.store.redis.checked import WRITTEN, CheckedWrite, version
from portal.store.redis.insight import RedisInsightQueries, queue_flags, queue_tallies
from portal.store.redis.jobs import queue_events, queue_job
from portal.store.redis.keys import (
    WEBHOOK_ID_SECONDS,
    Keys,
    begin,
    event_from_entry,
    guarded,
    micros,
    need,
    record_from_hash,
    retried,
    split_url,
    strings,
    text,
)
from portal.store.redis.outbox import RedisOutboxQueries, message_from_hash, queue_message, queue_outbox
from portal.store.redis.purge import RedisPurgeQueries
from portal.store.redis.replies import RedisReplyQueries
from portal.store.redis.search import RedisSearchQueries
from portal.store.redis.staff import RedisStaffQueries
from portal.store.redis.transfer import RedisTransferQueries
from portal.store.rules import REJECTED_KEEP, DepthFromCounts, compact_json, webhook_ids_cutoff

log = logging.getLogger("portal.store")

# Connections one process may hold for store calls (the bus holds one more for pub/sub);
# callers beyond this wait up to POOL_WAIT_SECONDS, then get StoreUnavailable (503).
POOL_SIZE = 32
POOL_WAIT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2.0  # a Redis that does not accept within this is down: answer 503
COMMAND_TIMEOUT_SECONDS = 5.0
# A dropped connection is retried this often, briefly, before the caller gets a 503.
COMMAND_RETRIES = 2
RETRY_BACKOFF = ExponentialBackoff(cap=0.5, base=0.05)
MAINTAIN_CHUNK = 500  # dedup keys deleted per round trip during upkeep


# Parts in their own modules, one role of ``base.Store`` each (see the module docstring).
class RedisStore(
    RedisSearchQueries,
    RedisStaffQueries,
    RedisOutboxQueries,
    RedisReplyQueries,
    RedisPurgeQueries,
    RedisTransferQueries,
    RedisInsightQueries,
    DepthFromCounts,
):
    def __init__(self, url: str) -> None:
        self.url, prefix = split_url(url)
        self.keys = Keys(prefix)
        self._pool: BlockingConnectionPool | None = None
        self._client: Redis | None = None
        # Set by the Redis bus: a stored event's channel and message, published by the same
        # write that stores it (one round trip less per change, and never stored unpublished).
        self.announce: Callable[[StoredEvent], tuple[str, str]] | None = None

    def connection_kwargs(self) -> dict[str, Any]:
        """Timeouts and retries shared by the store's pool and the bus's pub/sub connection."""
        return {
            "decode_responses": True,
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": COMMAND_TIMEOUT_SECONDS,
            "retry": Retry(RETRY_BACKOFF, COMMAND_RETRIES),
        }

    async def open(self) -> None:
        # Connections are made on first use: a portal may start while Redis is still down,
        # answering 503 until it is up.
        self._pool = BlockingConnectionPool.from_url(
            self.url, max_connections=POOL_SIZE, timeout=POOL_WAIT_SECONDS, **self.connection_kwargs()
        )
        self._client = Redis(connection_pool=self._pool)
        self._checked = CheckedWrite(self._client)

    async def close(self) -> None:
        client, pool = self._client, self._pool
        self._client = self._pool = None
        if client is not None:
            await client.aclose()
        if pool is not None:
            await pool.aclose()

    @guarded
    async def ping(self) -> None:
        await self.redis.ping()

    # -- jobs ----------------------------------------------------------------------

    @guarded
    async def change_job(self, job_id: str, decide: Decide, *, webhook_id: str | None = None) -> ChangeResult:
        return await retried(lambda: self._change(job_id, decide, webhook_id))

    async def _change(self, job_id: str, decide: Decide, webhook_id: str | None) -> ChangeResult:
        """One attempt: read, decide, then write if nothing moved in between (``checked.py``);
        WatchError when something did, as a WATCHed transaction would, so it is tried again."""
        keys = self.keys
        job_key = keys.job(job_id)
        dedup_key = keys.webhook(webhook_id) if webhook_id is not None else None
        async with self.redis.pipeline(transaction=False) as read:
            if dedup_key is not None:
                read.exists(dedup_key)
            read.hgetall(job_key)
            *taken, found = await read.execute()
        if taken and taken[0]:
            return ChangeResult(duplicate=True, job_id=job_id)
        raw = strings(found)
        record = record_from_hash(raw) if raw else None
        decision = decide(record.job if record else None)
        fresh, outbox_ids = await self._free_outbox(decision.outbox)
        now = now_iso()
        pipe = self.redis.pipeline(transaction=False)  # queues the script's commands; never executed
        stamps = {"updated_at": now}
        if record is None:
            link_key = new_link_key()
            stamps.update(link_key=link_key, created_at=now, last_seq="0")
            pipe.hset(keys.link(link_key), mapping={"job_id": job_id, "created_at": now})
            pipe.rpush(keys.job_links(job_id), link_key)
        job = decision.job
        seq = record.last_seq if record else 0
        stored = [StoredEvent(job_id, seq + n, kind, data, now) for n, (kind, data) in enumerate(decision.events, 1)]
        if stored:
            stamps["last_seq"] = str(stored[-1].seq)
        queue_job(pipe, keys, job_id, job, compact_json(job.to_dict()), stamps, raw if record is not None else None)
        queue_events(pipe, keys, job_id, stored)
        announce = self.announce
        if announce is not None:
            for event in stored:
                pipe.publish(*announce(event))
        before = record.job if record else None
        at = parse_iso(now)
        flags = job_flags(before, job, at)
        queue_flags(pipe, keys, flags)
        queue_tallies(pipe, keys, job_tallies(before, job, at))
        for outbox_id, item in zip(outbox_ids, fresh, strict=True):
            queue_outbox(pipe, keys, outbox_id, item, now)
        if webhook_id is not None and dedup_key is not None:
            # Last: a command Redis refuses stops the script, and a webhook whose change was
            # not all written must not be taken for a duplicate when it is sent again.
            pipe.set(dedup_key, now, nx=True, ex=WEBHOOK_ID_SECONDS)
            pipe.zadd(keys("webhooks"), {webhook_id: micros(now)})
        free = ([dedup_key] if dedup_key is not None else []) + [keys.outbox_key(item.dedup_key) for item in fresh]
        outcome = await self._checked(job_key, version(raw), free, pipe)
        if outcome == 1 and dedup_key is not None:
            return ChangeResult(duplicate=True, job_id=job_id)  # the same webhook, stored meanwhile
        if outcome != WRITTEN:
            raise WatchError(f"{job_key} or a key it needs free changed since it was read")
        raised = bool(flags) or any(callback_flags(item.job_id, item.payload, now) for item in fresh)
        return ChangeResult(
            duplicate=False,
            job_id=job_id,
            events=stored,
            queued=len(fresh),
            attention=raised,
            published=announce is not None,
        )

    @guarded
    async def get_job(self, job_id: str) -> JobRecord | None:
        return await self._record(job_id)

    async def _record(self, job_id: str) -> JobRecord | None:
        raw = strings(await self.redis.hgetall(self.keys.job(job_id)))
        return record_from_hash(raw) if raw else None

    @guarded
    async def resolve_link(self, link_key: str) -> LinkLookup:
        raw = strings(await self.redis.hgetall(self.keys.link(link_key)))
        if not raw:
            return LinkLookup(None)
        if raw.get("revoked_at"):
            return LinkLookup(None, revoked=True)
        return LinkLookup(await self._record(raw["job_id"]))

    @guarded
    async def rotate_link_key(self, job_id: str) -> str | None:
        return await self.transact(lambda pipe: self._rotate(pipe, job_id))

    async def _rotate(self, pipe: Pipeline, job_id: str) -> str | None:
        keys = self.keys
        await pipe.watch(keys.job(job_id))
        current = text(await pipe.hget(keys.job(job_id), "link_key"))
        if current is None:
            return None
        now, key = now_iso(), new_link_key()
        begin(pipe)
        pipe.hset(keys.link(current), "revoked_at", now)
        pipe.hset(keys.link(key), mapping={"job_id": job_id, "created_at": now})
        pipe.rpush(keys.job_links(job_id), key)
        pipe.hset(keys.job(job_id), mapping={"link_key": key, "updated_at": now})
        pipe.zadd(keys("jobs-updated"), {job_id: micros(now)})
        return key

    @guarded
    async def link_history(self, job_id: str) -> list[LinkKeyInfo]:
        link_keys = await self.redis.lrange(self.keys.job_links(job_id), 0, -1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in link_keys:
                pipe.hmget(self.keys.link(need(key)), ["created_at", "revoked_at"])
            replies = await pipe.execute()
        return [LinkKeyInfo(need(created), text(revoked)) for created, revoked in replies if created]

    @guarded
    async def events_after(self, job_id: str, seq: int) -> list[StoredEvent] | None:
        stream = self.keys.events(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self.keys.job(job_id), "last_seq")
            pipe.xrange(stream, "-", "+", count=1)
            pipe.xrange(stream, f"{seq + 1}-0", "+")
            last_raw, oldest, newer = await pipe.execute()
        last_seq = int(text(last_raw) or 0)
        if oldest:
            if event_from_entry(job_id, *oldest[0]).seq > seq + 1:
                return None
        elif last_seq > seq:
            return None  # the log expired while the page was away
        return [event_from_entry(job_id, entry_id, data) for entry_id, data in newer]

    # -- messages ------------------------------------------------------------------

    @guarded
    async def add_message(self, message: Message) -> int:
        message_id = int(await self.redis.incr(self.keys("msg-next")))
        async with self.pipeline() as pipe:
            queue_message(pipe, self.keys, message_id, message)
            if message.direction == "out":  # counted here, not in a copy (``portal migrate-store``)
                queue_tallies(
                    pipe,
                    self.keys,
                    message_tallies(message.channel, None, message.status, message.error, message.created_at),
                )
            await pipe.execute()
        return message_id

    @guarded
    async def list_messages(self, job_id: str) -> list[Message]:
        ids = await self.redis.lrange(self.keys.job_messages(job_id), 0, -1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for message_id in ids:
                pipe.hgetall(self.keys.message(need(message_id)))
            replies = await pipe.execute()
        return [message_from_hash(int(need(mid)), strings(raw)) for mid, raw in zip(ids, replies, strict=True) if raw]

    # -- rejected webhooks and upkeep ------------------------------------------------

    @guarded
    async def claim_delivery_id(self, delivery_id: str) -> bool:
        now = now_iso()
        if not await self.redis.set(self.keys.webhook(delivery_id), now, nx=True, ex=WEBHOOK_ID_SECONDS):
            return False
        await self.redis.zadd(self.keys("webhooks"), {delivery_id: micros(now)})  # for upkeep and transfer
        return True

    @guarded
    async def record_rejection(self, rejection: Rejection) -> None:
        async with self.pipeline() as pipe:
            pipe.lpush(self.keys("rejected"), json.dumps(astuple(rejection)))
            pipe.ltrim(self.keys("rejected"), 0, REJECTED_KEEP - 1)
            await pipe.execute()

    @guarded
    async def list_rejections(self, limit: int = 100) -> list[Rejection]:
        rows = await self.redis.lrange(self.keys("rejected"), 0, limit - 1)
        return [Rejection(*json.loads(need(row))) for row in rows]

    @guarded
    async def maintain(self, now: str) -> None:
        """Forget webhook ids older than the retention (their keys also expire by themselves)."""
        cutoff = micros(webhook_ids_cutoff(now))
        index = self.keys("webhooks")
        while True:
            old = await self.redis.zrangebyscore(index, "-inf", cutoff, start=0, num=MAINTAIN_CHUNK)
            if not old:
                return
            ids = [need(webhook_id) for webhook_id in old]
            async with self.pipeline() as pipe:
                pipe.delete(*[self.keys.webhook(webhook_id) for webhook_id in ids])
                pipe.zrem(index, *ids)
                await pipe.execute()
