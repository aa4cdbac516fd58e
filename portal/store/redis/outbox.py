"""The outbox on Redis: a multi-consumer queue of sorted sets scored by due time, with leases.

Each pending row sits in the sorted set of its kind, scored by when it is due. Claiming is
one Lua script, atomic across every process: take the rows due now, re-score them to the
end of their lease and count the attempt. A worker that dies leaves its rows scored at the
lease end, so they fall due again and any worker takes them over; a row that is settled
leaves the set (or is re-scored for its retry). Rows keep their state, attempts and last
error in a hash, like the SQLite ``outbox`` table; ``dead`` rows are the dead letters.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio.client import Pipeline
from redis.typing import EncodableT

from portal.core.attention import callback_flags, status_flags
from portal.core.tallies import message_tallies
from portal.store.records import Message, OutboxItem, OutboxRow, Settlement
from portal.store.redis.insight import queue_flags, queue_tallies
from portal.store.redis.keys import (
    Keys,
    RedisParts,
    begin,
    fields,
    guarded,
    iso_from_micros,
    micros,
    need,
    strings,
    text,
    wire,
)
from portal.store.rules import claim_order, status_advances

# KEYS: the due sets of the kinds asked for. ARGV: now and lease end (as scores and as
# text), the limit, the key prefix. Returns the ids claimed.
CLAIM_SCRIPT = """
local limit = tonumber(ARGV[5])
local found = {}
for _, key in ipairs(KEYS) do
    local due = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, limit)
    for i = 1, #due, 2 do
        table.insert(found, {tonumber(due[i + 1]), tonumber(due[i]), key, due[i]})
    end
end
table.sort(found, function(a, b)
    if a[1] == b[1] then return a[2] < b[2] end
    return a[1] < b[1]
end)
local claimed = {}
for i = 1, math.min(limit, #found) do
    local row = found[i]
    redis.call('ZADD', row[3], ARGV[2], row[4])
    local hash = ARGV[6] .. 'outbox:' .. row[4]
    redis.call('HINCRBY', hash, 'attempts', 1)
    redis.call('HSET', hash, 'next_attempt_at', ARGV[3], 'lease_until', ARGV[3], 'updated_at', ARGV[4])
    table.insert(claimed, row[4])
end
return claimed
"""

# KEYS: the row's hash. ARGV: the lease it must still carry, the new lease (text and score),
# the key prefix, the row id. Returns 1 when extended, 0 when the row is no longer so held.
EXTEND_SCRIPT = """
if redis.call('HGET', KEYS[1], 'lease_until') ~= ARGV[1] then return 0 end
local kind = redis.call('HGET', KEYS[1], 'kind')
redis.call('HSET', KEYS[1], 'lease_until', ARGV[2], 'next_attempt_at', ARGV[2])
redis.call('ZADD', ARGV[4] .. 'outbox-due:' .. kind, 'XX', ARGV[3], ARGV[5])
return 1
"""

MESSAGE_FIELDS = ("job_id", "channel", "direction", "to_addr", "from_addr", "body", "status", "provider_id", "error")


def message_from_hash(message_id: int, raw: dict[str, str]) -> Message:
    return Message(
        id=message_id,
        job_id=raw.get("job_id"),
        channel=raw["channel"],
        direction=raw["direction"],
        to_addr=raw.get("to_addr"),
        from_addr=raw.get("from_addr"),
        body=raw.get("body", ""),
        status=raw["status"],
        provider_id=raw.get("provider_id"),
        error=raw.get("error"),
        meta=json.loads(raw.get("meta", "{}")),
        created_at=raw["created_at"],
        updated_at=raw["updated_at"],
    )


def queue_message(pipe: Pipeline, keys: Keys, message_id: int, m: Message, outbox_id: int | None = None) -> None:
    mapping = fields(
        job_id=m.job_id,
        channel=m.channel,
        direction=m.direction,
        to_addr=m.to_addr,
        from_addr=m.from_addr,
        body=m.body,
        status=m.status,
        provider_id=m.provider_id,
        error=m.error,
        meta=m.meta,
        outbox_id=str(outbox_id) if outbox_id is not None else None,
        created_at=m.created_at,
        updated_at=m.updated_at,
    )
    mapping.setdefault("body", "")
    pipe.hset(keys.message(message_id), mapping=wire(mapping))
    if m.job_id is not None:
        pipe.rpush(keys.job_messages(m.job_id), str(message_id))
    if m.provider_id is not None:
        pipe.set(keys.provider(m.provider_id), str(message_id))


def unclaimed(items: list[OutboxItem], taken: list[Any]) -> list[OutboxItem]:
    """The items whose dedup key was free (``taken`` holds what each key held), each key once."""
    fresh: list[OutboxItem] = []
    seen: set[str] = set()
    for item, existing in zip(items, taken, strict=True):
        if existing is None and item.dedup_key not in seen:
            fresh.append(item)
            seen.add(item.dedup_key)
    return fresh


def queue_outbox(pipe: Pipeline, keys: Keys, outbox_id: int, item: OutboxItem, now: str, *, flag: bool = True) -> None:
    """Queue one new row (its dedup key already checked free under WATCH).

    A new callback that is also a reason for staff (``core/attention.py``) raises it, unless
    ``flag`` is off: ``portal migrate-store`` copies the queue as it stands, acknowledgements
    included, rather than raising every reason its callbacks once raised.
    """
    due = item.not_before or now
    mapping = fields(
        dedup_key=item.dedup_key,
        kind=item.kind,
        job_id=item.job_id,
        payload=item.payload,
        state="pending",
        attempts="0",
        next_attempt_at=due,
        created_at=now,
        updated_at=now,
    )
    pipe.hset(keys.outbox(outbox_id), mapping=wire(mapping))
    pipe.set(keys.outbox_key(item.dedup_key), str(outbox_id))
    pipe.zadd(keys.due(item.kind), {str(outbox_id): micros(due)})
    pipe.sadd(keys("outbox-kinds"), item.kind)
    if flag and item.kind == "callback":
        queue_flags(pipe, keys, callback_flags(item.job_id, item.payload, now))
    if item.job_id is not None:
        pipe.rpush(keys.job_outbox(item.job_id), str(outbox_id))


def _track_status(
    pipe: Pipeline, keys: Keys, old: list[str | None], status: str | None, error: str | None, now: str
) -> None:
    """Count a message's status change and raise ``message_failed`` (inside the MULTI)."""
    job_id, channel, before, direction = old
    if channel is None or direction != "out":
        return
    queue_tallies(pipe, keys, message_tallies(channel, before, status, error, now))
    queue_flags(pipe, keys, status_flags(job_id, before, status, now))


def row_from_hash(outbox_id: int, raw: dict[str, str]) -> OutboxRow:
    return OutboxRow(
        id=outbox_id,
        dedup_key=raw["dedup_key"],
        kind=raw["kind"],
        job_id=raw.get("job_id"),
        payload=json.loads(raw["payload"]),
        state=raw["state"],
        attempts=int(raw.get("attempts", "0")),
        next_attempt_at=raw["next_attempt_at"],
        last_error=raw.get("last_error"),
        created_at=raw["created_at"],
        updated_at=raw["updated_at"],
        lease_until=raw.get("lease_until"),
    )


class RedisOutboxQueries(RedisParts):
    """Mixed into ``RedisStore``."""

    async def _fresh_outbox(self, pipe: Pipeline, items: list[OutboxItem]) -> list[OutboxItem]:
        """The items whose dedup key is free, watched so that a racing writer restarts us."""
        if not items:
            return []
        dedup = [self.keys.outbox_key(item.dedup_key) for item in items]
        await pipe.watch(*dedup)
        return unclaimed(items, await pipe.mget(dedup))

    async def _free_outbox(self, items: list[OutboxItem]) -> tuple[list[OutboxItem], list[int]]:
        """The items whose dedup key is free and an id for each, in one round trip, unwatched:
        the write that queues them checks the keys are still free (``checked.py``)."""
        if not items:
            return [], []
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget([self.keys.outbox_key(item.dedup_key) for item in items])
            pipe.incrby(self.keys("outbox-next"), len(items))  # an upper bound: unused ids are skipped
            taken, last = await pipe.execute()
        fresh = unclaimed(items, taken)
        first = int(last) - len(items) + 1
        return fresh, list(range(first, first + len(fresh)))

    async def _rows(self, ids: list[Any]) -> list[OutboxRow]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for outbox_id in ids:
                pipe.hgetall(self.keys.outbox(need(outbox_id)))
            replies = await pipe.execute()
        return [row_from_hash(int(need(i)), strings(raw)) for i, raw in zip(ids, replies, strict=True) if raw]

    @guarded
    async def claim_outbox(self, kinds: tuple[str, ...], now: str, lease_until: str, limit: int) -> list[OutboxRow]:
        if not kinds or limit <= 0:
            return []
        keys = [self.keys.due(kind) for kind in kinds]
        args: list[EncodableT] = [micros(now), micros(lease_until), lease_until, now, limit, self.keys.prefix]
        claimed = await self.redis.eval(CLAIM_SCRIPT, len(keys), *keys, *args)
        rows = await self._rows(list(claimed))
        return claim_order(rows)

    @guarded
    async def next_outbox_due(self, kinds: tuple[str, ...]) -> str | None:
        if not kinds:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind in kinds:
                pipe.zrange(self.keys.due(kind), 0, 0, withscores=True)
            replies = await pipe.execute()
        scores = [float(score) for reply in replies for _, score in reply]
        return iso_from_micros(min(scores)) if scores else None

    @guarded
    async def begin_message(self, outbox_id: int, message: Message) -> int:
        async def body(pipe: Pipeline) -> int:
            row_key = self.keys.outbox(outbox_id)
            await pipe.watch(row_key)
            existing = text(await pipe.hget(row_key, "message_id"))
            if existing is not None:
                begin(pipe)
                key = self.keys.message(existing)
                update = fields(to_addr=message.to_addr, body=message.body, meta=message.meta)
                pipe.hset(key, mapping=wire({**update, "updated_at": message.updated_at}))
                if message.to_addr is None:
                    pipe.hdel(key, "to_addr")
                return int(existing)
            message_id = int(await pipe.incr(self.keys("msg-next")))
            begin(pipe)
            queue_message(pipe, self.keys, message_id, message, outbox_id)
            pipe.hset(row_key, "message_id", str(message_id))
            return message_id

        return await self.transact(body)

    @guarded
    async def extend_lease(self, outbox_id: int, lease_until: str, new_lease_until: str) -> bool:
        args: list[EncodableT] = [lease_until, new_lease_until, micros(new_lease_until), self.keys.prefix, outbox_id]
        return bool(await self.redis.eval(EXTEND_SCRIPT, 1, self.keys.outbox(outbox_id), *args))

    @guarded
    async def settle_outbox(self, settlement: Settlement, now: str) -> bool:
        s = settlement

        async def body(pipe: Pipeline) -> bool:
            row_key = self.keys.outbox(s.outbox_id)
            await pipe.watch(row_key)
            kind, lease = (text(value) for value in await pipe.hmget(row_key, ["kind", "lease_until"]))
            if kind is None or (s.lease_until is not None and lease != s.lease_until):
                return False  # gone, or no longer held by the claim this attempt came from
            message = None
            if s.message_id is not None:
                await pipe.watch(self.keys.message(s.message_id))
                message = await pipe.hmget(
                    self.keys.message(s.message_id), ["job_id", "channel", "status", "direction"]
                )
            follow_ups = await self._fresh_outbox(pipe, list(s.follow_ups))
            new_ids = [int(await pipe.incr(self.keys("outbox-next"))) for _ in follow_ups]
            begin(pipe)
            update = fields(state=s.state, next_attempt_at=s.next_attempt_at, last_error=s.error)
            pipe.hset(row_key, mapping=wire({**update, "updated_at": now}))
            pipe.hdel(row_key, "lease_until", *(() if s.error is not None else ("last_error",)))
            if s.state == "pending" and s.next_attempt_at is not None:
                pipe.zadd(self.keys.due(kind), {str(s.outbox_id): micros(s.next_attempt_at)})
            elif s.state != "pending":
                pipe.zrem(self.keys.due(kind), str(s.outbox_id))
            if message is not None:
                _track_status(pipe, self.keys, [text(v) for v in message], s.message_status, s.error, now)
            if s.message_id is not None:
                key = self.keys.message(s.message_id)
                update = fields(status=s.message_status, provider_id=s.provider_id, error=s.error)
                pipe.hset(key, mapping=wire({**update, "updated_at": now}))
                if s.error is None:
                    pipe.hdel(key, "error")
                if s.provider_id is not None:
                    pipe.set(self.keys.provider(s.provider_id), str(s.message_id))
            for outbox_id, item in zip(new_ids, follow_ups, strict=True):
                queue_outbox(pipe, self.keys, outbox_id, item, now)
            if s.opt_out is not None:
                pipe.set(self.keys("opt-out", s.opt_out), json.dumps(["sms", "provider", now]), nx=True)
            return True

        return await self.transact(body)

    @guarded
    async def update_message_status(self, provider_id: str, status: str, error: str | None, now: str) -> Message | None:
        async def body(pipe: Pipeline) -> Message | None:
            await pipe.watch(self.keys.provider(provider_id))
            message_id = text(await pipe.get(self.keys.provider(provider_id)))
            if message_id is None:
                return None
            key = self.keys.message(message_id)
            await pipe.watch(key)
            raw = strings(await pipe.hgetall(key))
            if not raw:
                return None
            if not status_advances(raw["status"], status):
                return message_from_hash(int(message_id), raw)
            old = [raw.get("job_id"), raw.get("channel"), raw.get("status"), raw.get("direction")]
            raw.update(status=status, updated_at=now)
            if error is not None:
                raw["error"] = error
            begin(pipe)
            _track_status(pipe, self.keys, old, status, error, now)
            pipe.hset(key, mapping={name: raw[name] for name in ("status", "updated_at", "error") if name in raw})
            return message_from_hash(int(message_id), raw)

        return await self.transact(body)

    @guarded
    async def set_opt_out(self, address: str, opted_out: bool, source: str, now: str) -> None:
        key = self.keys("opt-out", address)
        if opted_out:
            await self.redis.set(key, json.dumps(["sms", source, now]), nx=True)
        else:
            await self.redis.delete(key)

    @guarded
    async def record_opt_out(
        self, address: str, opted_out: bool, source: str, now: str, outbox: tuple[OutboxItem, ...] = ()
    ) -> int:
        async def body(pipe: Pipeline) -> int:
            fresh = await self._fresh_outbox(pipe, list(outbox))
            new_ids = [int(await pipe.incr(self.keys("outbox-next"))) for _ in fresh]
            begin(pipe)
            key = self.keys("opt-out", address)
            if opted_out:
                pipe.set(key, json.dumps(["sms", source, now]), nx=True)
            else:
                pipe.delete(key)
            for outbox_id, item in zip(new_ids, fresh, strict=True):
                queue_outbox(pipe, self.keys, outbox_id, item, now)
            return len(fresh)

        return await self.transact(body)

    @guarded
    async def is_opted_out(self, address: str) -> bool:
        return bool(await self.redis.exists(self.keys("opt-out", address)))

    @guarded
    async def outbox_counts(self) -> dict[str, int]:
        kinds = sorted(need(k) for k in await self.redis.smembers(self.keys("outbox-kinds")))
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind in kinds:
                pipe.zcard(self.keys.due(kind))
            counts = await pipe.execute()
        return {kind: int(count) for kind, count in zip(kinds, counts, strict=True) if count}

    @guarded
    async def list_outbox(self, job_id: str) -> list[OutboxRow]:
        ids = await self.redis.lrange(self.keys.job_outbox(job_id), 0, -1)
        return await self._rows(list(ids))
