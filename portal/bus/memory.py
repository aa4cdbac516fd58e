"""In-process fan-out for the embedded default: one dict of subscribers per job."""

from __future__ import annotations

from portal.bus.base import LINK_CHANGED, Fanout, Subscription
from portal.core.events import StoredEvent


class MemoryBus:
    def __init__(self) -> None:
        self._fanout = Fanout()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._fanout.clear()

    async def publish(self, events: list[StoredEvent]) -> None:
        for event in events:
            self._fanout.offer(event.job_id, event)

    async def link_changed(self, job_id: str) -> None:
        self._fanout.offer(job_id, LINK_CHANGED)

    def subscribe(self, job_id: str) -> Subscription:
        subscription, _ = self._fanout.add(job_id)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._fanout.remove(subscription)

    @property
    def subscriber_count(self) -> int:
        return self._fanout.count
