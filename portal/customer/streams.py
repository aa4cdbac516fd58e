"""How many live-event streams each client address holds open, so one client cannot hold thousands.

Counted in this process: a stream lives in one process, and the count must drop the moment
the stream ends, whatever ended it (on Redis each ``serve`` process allows the limit).
"""

from __future__ import annotations

from collections import Counter


class StreamCap:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, client: str) -> bool:
        """Count one more stream for ``client``; False (and nothing counted) when it holds the limit."""
        if self._open[client] >= self.limit:
            return False
        self._open[client] += 1
        return True

    def release(self, client: str) -> None:
        self._open[client] -= 1
        if self._open[client] <= 0:
            del self._open[client]  # the counter holds only clients with open streams

    def open_streams(self, client: str) -> int:
        return self._open[client]
