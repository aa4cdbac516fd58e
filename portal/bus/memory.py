"""In-process fan-out for the embedded default: one dict of subscribers per job."""

from __future__ import annotations

from collections import defaultdict

from portal.bus.base import Subscription
from portal.store.base import StoredEvent


class MemoryBus:
    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[Subscription]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._subscribers.clear()

    async def publish(self, events: list[StoredEvent]) -> None:
        for event in events:
            for subscription in tuple(self._subscribers.get(event.job_id, ())):
                subscription.offer(event)

    def subscribe(self, job_id: str) -> Subscription:
        subscription = Subscription(job_id)
        self._subscribers[job_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.job_id)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del self._subscribers[subscription.job_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())
