"""A sliding-window counter per client: how many bad attempts in the last few minutes."""

from __future__ import annotations

import time
from collections import deque

MAX_TRACKED_CLIENTS = 100_000  # bounds memory under a flood of distinct addresses


class Throttle:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}

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
