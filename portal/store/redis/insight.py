"""The attention queue and statistics counters on Redis (``store/insight.py``).

Kept by the writes that change them, inside their MULTI:

- ``attention:<job id>``: a hash of the job's raised reasons and since when;
- ``attention-due``: a sorted set of ``<reason>:<job id>`` scored by that since, so the queue
  is one range read up to now, and reasons raised for later (an unanswered request) wait in
  it until due;
- ``tally:<quarter hour>``: a hash of counters per quarter hour (``core/tallies.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from redis.asyncio.client import Pipeline

from portal.core.attention import Flags, Item, item_of, queue_order, ranked
from portal.core.tallies import Tally
from portal.store.base import AuditEntry
from portal.store.insight import ATTENTION_PAGE
from portal.store.redis.keys import Keys, RedisParts, begin, guarded, iso_from_micros, micros, need, strings, text

DUE = "attention-due"
# KEYS: the quarter hours' counter hashes, in order. ARGV: each day's first key (0-based
# offset into KEYS), then one past the last. Returns day index, counter, total, flattened:
# the sums are made inside Redis, so a 30-day report moves a few hundred values.
SUM_BY_DAY = """
local out = {}
for day = 1, #ARGV - 1 do
  local sums = {}
  for k = tonumber(ARGV[day]) + 1, tonumber(ARGV[day + 1]) do
    local flat = redis.call('HGETALL', KEYS[k])
    for i = 1, #flat, 2 do
      sums[flat[i]] = (sums[flat[i]] or 0) + tonumber(flat[i + 1])
    end
  end
  for name, total in pairs(sums) do
    out[#out + 1] = tostring(day - 1)
    out[#out + 1] = name
    out[#out + 1] = string.format('%.17g', total)
  end
end
return out
"""


def _member(reason: str, job_id: str) -> str:
    return f"{reason}:{job_id}"  # reasons never hold a colon; job ids may


def member_parts(member: str) -> tuple[str, str]:
    """(reason, job id) of an ``attention-due`` member."""
    reason, _, job_id = member.partition(":")
    return reason, job_id


def queue_flags(pipe: Pipeline, keys: Keys, flags: Flags) -> None:
    """Raise and clear reasons (inside a MULTI); a reason already raised keeps its first since."""
    for job_id, reason in flags.cleared:
        pipe.hdel(keys("attention", job_id), reason)
        pipe.zrem(keys(DUE), _member(reason, job_id))
    for flag in flags.raised:
        pipe.hsetnx(keys("attention", flag.job_id), flag.reason, flag.since)
        pipe.zadd(keys(DUE), {_member(flag.reason, flag.job_id): micros(flag.since)}, nx=True)


def queue_tallies(pipe: Pipeline, keys: Keys, tallies: Iterable[Tally]) -> None:
    for tally in tallies:
        pipe.hincrbyfloat(keys("tally", str(tally.bucket)), tally.name, tally.amount)


def queue_forget(pipe: Pipeline, keys: Keys, job_id: str, reasons: Iterable[str]) -> None:
    """Drop a purged job's queue entries (inside its MULTI)."""
    members = [_member(reason, job_id) for reason in reasons]
    if members:
        pipe.zrem(keys(DUE), *members)
    pipe.delete(keys("attention", job_id))


class RedisInsightQueries(RedisParts):
    """Mixed into ``RedisStore``."""

    @guarded
    async def attention(self, now: str, limit: int = ATTENTION_PAGE) -> tuple[list[Item], int]:
        found = await self.redis.zrangebyscore(self.keys(DUE), "-inf", micros(now), withscores=True)
        rows = []
        for entry in found:
            member, score = entry[0], entry[1]
            reason, job_id = member_parts(need(member))
            rows.append((job_id, reason, int(score)))  # ranked as microseconds: text only for the page shown
        waiting = ranked(rows)
        shown = [
            item_of(job_id, {reason: iso_from_micros(since) for reason, since in reasons.items()})
            for job_id, reasons in waiting[:limit]
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in shown:
                pipe.hget(self.keys.job(item.job_id), "reference")
            references = [text(value) for value in await pipe.execute()] if shown else []
        named = [
            Item(item.job_id, item.reasons, item.since, reference or item.job_id, item.details)
            for item, reference in zip(shown, references, strict=True)
        ]
        return named, len(waiting)

    @guarded
    async def job_attention(self, job_id: str, now: str) -> Item | None:
        raised = strings(await self.redis.hgetall(self.keys("attention", job_id)))
        due = micros(now)
        items = queue_order([(job_id, reason, since) for reason, since in raised.items() if micros(since) <= due])
        return items[0] if items else None

    @guarded
    async def next_attention_due(self, now: str) -> str | None:
        found = await self.redis.zrangebyscore(
            self.keys(DUE), f"({micros(now)}", "+inf", start=0, num=1, withscores=True
        )
        return iso_from_micros(float(found[0][1])) if found else None

    @guarded
    async def acknowledge(self, job_id: str, now: str, audit: AuditEntry) -> list[str]:
        entry_id = int(await self.redis.incr(self.keys("audit-next")))

        async def body(pipe: Pipeline) -> list[str]:
            key = self.keys("attention", job_id)
            await pipe.watch(key)
            raised = strings(await pipe.hgetall(key))
            cleared = sorted(reason for reason, since in raised.items() if micros(since) <= micros(now))
            begin(pipe)
            if cleared:
                pipe.hdel(key, *cleared)
                pipe.zrem(self.keys(DUE), *[_member(reason, job_id) for reason in cleared])
            detail = ", ".join(cleared) or "nothing to clear"
            row = [audit.at, audit.username, audit.action, audit.job_id, audit.client, detail]
            pipe.hset(self.keys("audit"), str(entry_id), json.dumps(row))
            pipe.zadd(self.keys("audit-all"), {str(entry_id): entry_id})
            pipe.zadd(self.keys("audit-user", audit.username), {str(entry_id): entry_id})
            pipe.zadd(self.keys("audit-job", job_id), {str(entry_id): entry_id})
            return cleared

        return await self.transact(body)

    @guarded
    async def tallies(self, edges: list[int]) -> list[tuple[int, str, float]]:
        if len(edges) < 2:
            return []
        keys = [self.keys("tally", str(bucket)) for bucket in range(edges[0], edges[-1])]
        offsets = [str(edge - edges[0]) for edge in edges]
        flat = [need(value) for value in await self.redis.eval(SUM_BY_DAY, len(keys), *keys, *offsets)]
        return [(int(flat[i]), flat[i + 1], float(flat[i + 2])) for i in range(0, len(flat), 3)]
