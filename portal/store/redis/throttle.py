"""The sliding-window throttle kept in Redis, so that every process counts the same attempts.

Each client has a small sorted set of attempt times; only the newest ``limit`` are kept,
which is all a decision needs, and the set expires with its window. ``reserve`` checks and
counts in one Lua script, so parallel requests in any process cannot overshoot the limit.
"""

from __future__ import annotations

import logging
import secrets
import time

from portal.store.redis.keys import REDIS_FAILURES, unavailable
from portal.store.redis.store import RedisStore

log = logging.getLogger("portal.store.throttle")


# KEYS[1] the set; ARGV: now, window, limit, member. Returns 1 when counted, 0 when at the limit.
RESERVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], math.floor(tonumber(ARGV[2])) + 1)
return 1
"""


class RedisThrottle:
    def __init__(self, store: RedisStore, name: str, limit: int, window_seconds: float) -> None:
        self.store = store
        self.name = name
        self.limit = limit
        self.window = window_seconds

    def _key(self, key: str) -> str:
        return self.store.keys("throttle", self.name, key)

    async def is_blocked(self, key: str) -> bool:
        """Fails open: with Redis down the request meets a 503 from the store right after."""
        now = time.time()
        try:
            async with self.store.redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(self._key(key), "-inf", now - self.window)
                pipe.zcard(self._key(key))
                _, count = await pipe.execute()
        except REDIS_FAILURES as exc:
            if not unavailable(exc):
                raise
            log.warning("throttle %s unavailable, not blocking: %s", self.name, exc)
            return False
        return int(count) >= self.limit

    async def record(self, key: str) -> None:
        now = time.time()
        redis_key = self._key(key)
        try:
            async with self.store.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(redis_key, {f"{now:.6f}:{secrets.token_hex(4)}": now})
                pipe.zremrangebyscore(redis_key, "-inf", now - self.window)
                pipe.zremrangebyrank(redis_key, 0, -self.limit - 1)
                pipe.expire(redis_key, int(self.window) + 1)
                await pipe.execute()
        except REDIS_FAILURES as exc:
            if not unavailable(exc):
                raise
            log.warning("throttle %s unavailable, attempt not counted: %s", self.name, exc)

    async def reserve(self, key: str) -> str | None:
        """Fails open like ``is_blocked``: with Redis down the store answers 503 anyway."""
        now = time.time()
        ticket = f"{now:.6f}:{secrets.token_hex(4)}"
        try:
            script = self.store.redis.register_script(RESERVE)  # sent by its SHA once Redis has it
            counted = await script(keys=[self._key(key)], args=[now, self.window, self.limit, ticket])
        except REDIS_FAILURES as exc:
            if not unavailable(exc):
                raise
            log.warning("throttle %s unavailable, attempt not counted: %s", self.name, exc)
            return ticket
        return ticket if int(counted) else None

    async def cancel(self, key: str, ticket: str) -> None:
        try:
            await self.store.redis.zrem(self._key(key), ticket)
        except REDIS_FAILURES as exc:
            if not unavailable(exc):
                raise
            log.warning("throttle %s unavailable, attempt stays counted: %s", self.name, exc)

    async def clear(self, key: str) -> None:
        try:
            await self.store.redis.delete(self._key(key))
        except REDIS_FAILURES as exc:
            if not unavailable(exc):
                raise
            log.warning("throttle %s unavailable, attempts stay counted: %s", self.name, exc)
