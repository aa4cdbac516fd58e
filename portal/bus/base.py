"""The bus protocol: publish a job's stored events, subscribe to one job's events.

The bus is allowed to lose messages (Redis pub/sub is at-most-once; a slow subscriber
overflows): a subscription then receives ``LAGGED`` and the stream re-reads the job's
stored event log, so a lost message is never a lost event.

A revoked link is announced on the same channel (``LINK_CHANGED``): each open stream of the
job then checks its own link in the store and ends if it no longer opens. A stream checks
on ``LAGGED`` too, so a lost announcement is caught when the gap is.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from portal.core.events import StoredEvent

# Events a stream may fall behind before it is told to catch up from the store.
SUBSCRIBER_QUEUE_SIZE = 64


class _Lagged:
    """Marker: events were dropped for this subscriber; re-read the stored log."""


LAGGED = _Lagged()


class _LinkChanged:
    """Marker: a link of this job was revoked; a stream checks whether its own still opens."""


LINK_CHANGED = _LinkChanged()
Signal = StoredEvent | _Lagged | _LinkChanged


class Subscription:
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.queue: asyncio.Queue[Signal] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)

    def offer(self, event: Signal) -> None:
        """Queue without blocking the publisher; on overflow replace the backlog with LAGGED."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(LAGGED)


class Fanout:
    """This process's subscriptions by job: the part every bus shares.

    ``add`` and ``remove`` say when a job gains its first or loses its last subscription,
    which is when a bus between processes subscribes or unsubscribes the job's channel.
    """

    def __init__(self) -> None:
        self._by_job: dict[str, set[Subscription]] = {}

    def add(self, job_id: str) -> tuple[Subscription, bool]:
        """A new subscription, and whether it is the job's first."""
        subscription = Subscription(job_id)
        subscribers = self._by_job.setdefault(job_id, set())
        first = not subscribers
        subscribers.add(subscription)
        return subscription, first

    def remove(self, subscription: Subscription) -> bool:
        """Forget a subscription; True when it was the job's last."""
        subscribers = self._by_job.get(subscription.job_id)
        if subscribers is None:
            return False
        subscribers.discard(subscription)
        if subscribers:
            return False
        del self._by_job[subscription.job_id]
        return True

    def offer(self, job_id: str, item: Signal) -> None:
        for subscription in tuple(self._by_job.get(job_id, ())):
            subscription.offer(item)

    def watches(self, job_id: str) -> bool:
        return job_id in self._by_job

    def job_ids(self) -> list[str]:
        return list(self._by_job)

    def clear(self) -> None:
        self._by_job.clear()

    @property
    def count(self) -> int:
        return sum(len(s) for s in self._by_job.values())


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, events: list[StoredEvent]) -> None: ...

    async def link_changed(self, job_id: str) -> None:
        """Tell every process's open streams of the job to check their link (after a revocation)."""

    def subscribe(self, job_id: str) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...
