"""A sliding-window counter per client: how many bad attempts in the last few minutes.

``reserve`` counts an attempt and says whether it may go ahead in one step, so parallel
requests cannot all pass a check before any of them is counted.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import deque
from typing import Protocol

MAX_TRACKED_CLIENTS = 100_000  # bounds memory under a flood of distinct addresses


class Throttle:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}
        self._tickets = itertools.count()

    def blocked(self, key: str, now: float | None = None) -> bool:
        hits = self._hits.get(key)
        if not hits:
            return False
        self._expire(hits, time.monotonic() if now is None else now)
        return len(hits) >= self.limit

    def hit(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if key not in self._hits and len(self._hits) >= MAX_TRACKED_CLIENTS:
            self._sweep(now)
        hits = self._hits.setdefault(key, deque())
        self._expire(hits, now)
        hits.append(now)

    async def is_blocked(self, key: str) -> bool:
        """The async form, shared with ``RedisThrottle`` (store/redis/throttle.py), so callers work with either."""
        return self.blocked(key)

    async def record(self, key: str) -> None:
        self.hit(key)

    async def reserve(self, key: str) -> str | None:
        """Count an attempt if the key is under its limit: a ticket to ``cancel`` it, else None."""
        if self.blocked(key):
            return None
        now = time.monotonic() + next(self._tickets) * 1e-9  # distinct times identify the ticket
        self.hit(key, now)
        return repr(now)

    async def cancel(self, key: str, ticket: str) -> None:
        """Un-count a reserved attempt that turned out not to be a failure."""
        hits = self._hits.get(key)
        if hits is not None:
            with contextlib.suppress(ValueError):
                hits.remove(float(ticket))

    async def clear(self, key: str) -> None:
        self._hits.pop(key, None)

    def _expire(self, hits: deque[float], now: float) -> None:
        while hits and hits[0] <= now - self.window:
            hits.popleft()

    def _sweep(self, now: float) -> None:
        for key in list(self._hits):
            self._expire(self._hits[key], now)
            if not self._hits[key]:
                del self._hits[key]
        if len(self._hits) >= MAX_TRACKED_CLIENTS:
            self._hits.clear()


class SharedThrottle(Protocol):
    """A throttle every process of a portal sees alike: in memory for SQLite, in Redis when shared."""

    async def is_blocked(self, key: str) -> bool: ...

    async def record(self, key: str) -> None: ...

    async def reserve(self, key: str) -> str | None: ...

    async def cancel(self, key: str, ticket: str) -> None: ...

    async def clear(self, key: str) -> None: ...


def open_throttle(store: object, name: str, limit: int, window_seconds: float) -> SharedThrottle:
    """A Redis-backed throttle when the store is Redis (counts shared by every process), else in memory."""
    from portal.store.redis.store import RedisStore

    if isinstance(store, RedisStore):
        from portal.store.redis.throttle import RedisThrottle

        return RedisThrottle(store, name, limit, window_seconds)
    return Throttle(limit, window_seconds)
