"""The running portal: every long-lived part, opened and closed in one place.

Endpoints reach these through ``request.app.state.portal``; the app's lifespan calls
``start`` and ``stop``, which open and close the parts in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from portal.bus.base import Bus
from portal.bus.memory import MemoryBus
from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.core.public import live_events, utc_now
from portal.intake import EventParser, SignatureVerifier
from portal.links import LinkSigner
from portal.metrics import Metrics
from portal.resources import data_dir
from portal.settings import Settings
from portal.store import open_store
from portal.store.base import ChangeResult, Decision, Store
from portal.throttle import Throttle

log = logging.getLogger("portal")

BAD_LINK_LIMIT = 20  # bad tokens one client may try ...
BAD_LINK_WINDOW = 300.0  # ... per 5 minutes before being answered 429
MAINTENANCE_INTERVAL = 3600.0  # hourly: dedup records and bounded lists need no more


class Portal:
    def __init__(self, settings: Settings, *, store: Store | None = None, bus: Bus | None = None) -> None:
        self.settings = settings
        self.store: Store = store or open_store(settings)
        self.bus: Bus = bus or MemoryBus()
        self.links = LinkSigner(settings.secret_keys)
        self.metrics = Metrics()
        self.verifier = SignatureVerifier(settings.webhook_secrets)
        self.parser = EventParser(data_dir("webhooks") / "schemas")
        self.link_throttle = Throttle(BAD_LINK_LIMIT, BAD_LINK_WINDOW)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def public_url(self) -> str:
        return self.settings.public_url or "http://127.0.0.1:8000"

    async def start(self) -> None:
        await self.store.open()
        await self.bus.start()
        self._tasks.append(asyncio.create_task(self._maintenance(), name="maintenance"))

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.bus.stop()
        await self.store.close()

    async def _maintenance(self) -> None:
        while True:
            try:
                await self.store.maintain(iso_utc(utc_now()))
            except Exception:
                log.exception("store maintenance failed; will try again")
            await asyncio.sleep(MAINTENANCE_INTERVAL)

    async def change(
        self, job_id: str, decide: Callable[[Job | None], Decision], webhook_id: str | None = None
    ) -> ChangeResult:
        """Apply a change atomically, then push its live events to open pages."""
        result = await self.store.change_job(job_id, decide, webhook_id=webhook_id)
        if result.events:
            await self.bus.publish(result.events)
            for event in result.events:
                self.metrics.events_published.labels(event.type).inc()
        return result

    async def accept_field_event(self, event: FieldEvent) -> ChangeResult:
        region = self.settings.default_region

        def decide(before: Job | None) -> Decision:
            after = apply_event(before, event, region)
            return Decision(job=after, events=live_events(before, after, utc_now()))

        return await self.change(event.job_id, decide, webhook_id=event.webhook_id)

    async def link_url(self, job_id: str) -> str | None:
        record = await self.store.get_job(job_id)
        if record is None:
            return None
        return self.links.url(self.public_url, record.link_key)
