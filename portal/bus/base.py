"""The bus protocol: publish a job's stored events, subscribe to one job's events.

The bus is allowed to lose messages (Redis pub/sub is at-most-once; a slow subscriber
overflows): a subscription then receives ``LAGGED`` and the stream re-reads the job's
stored event log, so a lost message is never a lost event.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from portal.store.base import StoredEvent

# Events a stream may fall behind before it is told to catch up from the store.
SUBSCRIBER_QUEUE_SIZE = 64


class _Lagged:
    """Marker: events were dropped for this subscriber; re-read the stored log."""


LAGGED = _Lagged()


class Subscription:
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.queue: asyncio.Queue[StoredEvent | _Lagged] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)

    def offer(self, event: StoredEvent | _Lagged) -> None:
        """Queue without blocking the publisher; on overflow replace the backlog with LAGGED."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(LAGGED)


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, events: list[StoredEvent]) -> None: ...

    def subscribe(self, job_id: str) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...
