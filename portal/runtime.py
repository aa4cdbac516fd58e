"""The running portal: every long-lived part, opened and closed in one place.

Endpoints reach these through ``request.app.state.portal``; the app's lifespan calls
``start`` and ``stop``, which open and close the parts in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta

from portal.bus import open_bus
from portal.bus.base import Bus
from portal.core.actions import settle_requests
from portal.core.eta import KMH, EtaConfig
from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.core.policy import Policy, notices
from portal.core.public import live_events, utc_now
from portal.core.slots import SlotPolicy
from portal.core.trip import mark_progress
from portal.customer.streams import StreamCap
from portal.i18n import Translations
from portal.intake import EventParser, SignatureVerifier
from portal.links import LinkSigner
from portal.metrics import Metrics
from portal.notify.lateness import NothingLate, late_decision
from portal.notify.outbox import from_notice, late_check_item
from portal.notify.worker import Worker, WorkerConfig
from portal.resources import data_dir
from portal.settings import Settings
from portal.store import open_store
from portal.store.base import ChangeResult, Decision, Store, StoreUnavailable
from portal.store.retention import purge_expired
from portal.web.throttle import Throttle, open_throttle

log = logging.getLogger("portal")

BAD_LINK_LIMIT = 20  # bad tokens one client may try ...
BAD_LINK_WINDOW = 300.0  # ... per 5 minutes before being answered 429
# Unsigned rejected webhooks listed for staff: one per client address per minute, and at most
# 30 a minute in all; anyone can send them, and the rest are only counted (metrics).
UNSIGNED_LISTED_PER_CLIENT = 1
UNSIGNED_LISTED_PER_MINUTE = 30
MAINTENANCE_INTERVAL = 3600.0  # hourly: dedup records, bounded lists and retention need no more


class Portal:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        bus: Bus | None = None,
        run_worker: bool = True,
        worker_config: WorkerConfig | None = None,
    ) -> None:
        self.settings = settings
        self.store: Store = store or open_store(settings)
        self.bus: Bus = bus or open_bus(self.store)
        self.links = LinkSigner(settings.secret_keys)
        self.translations = Translations(settings.templates_dir)
        self.metrics = Metrics()
        self.verifier = SignatureVerifier(settings.webhook_secrets)
        self.parser = EventParser(data_dir("webhooks") / "schemas")
        self.link_throttle = open_throttle(self.store, "bad-link", BAD_LINK_LIMIT, BAD_LINK_WINDOW)
        self.streams = StreamCap(settings.max_streams_per_client)
        self.unsigned_listed = Throttle(UNSIGNED_LISTED_PER_CLIENT, 60.0)
        self.unsigned_listed_total = Throttle(UNSIGNED_LISTED_PER_MINUTE, 60.0)
        self._tasks: list[asyncio.Task[None]] = []
        self.policy = policy_of(settings)
        self.eta_config = eta_config_of(settings)
        self.slot_policy = SlotPolicy(settings.reschedule_slots)
        self.worker: Worker | None = None
        if run_worker:
            self.worker = Worker(
                self.store,
                settings,
                self.links,
                self.metrics,
                self.public_url,
                worker_config,
                late_check=self.check_late,
            )

    @property
    def public_url(self) -> str:
        return self.settings.public_url or "http://127.0.0.1:8000"

    async def start(self) -> None:
        await self.store.open()
        await self.bus.start()
        self._tasks.append(asyncio.create_task(self._maintenance(), name="maintenance"))
        if self.worker is not None:
            await self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
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
            try:
                await purge_expired(self.store, self.settings, utc_now())
            except Exception:
                log.exception("purging jobs past retention failed; will try again")
            await asyncio.sleep(MAINTENANCE_INTERVAL)

    async def change(
        self, job_id: str, decide: Callable[[Job | None], Decision], webhook_id: str | None = None
    ) -> ChangeResult:
        """Apply a change atomically, then push its live events to open pages."""
        result = await self.store.change_job(job_id, decide, webhook_id=webhook_id)
        if result.queued and self.worker is not None:
            self.worker.wake()
        if result.events:
            await self.bus.publish(result.events)
            for event in result.events:
                self.metrics.events_published.labels(event.type).inc()
        elif result.duplicate:
            await self.republish_newest(job_id)
        return result

    async def republish_newest(self, job_id: str) -> None:
        """Publish a job's newest stored event again, for a webhook seen before.

        A retried webhook may follow a change that was stored but never published: on Redis,
        EXEC can apply it and the reply be lost, so the first attempt failed before publishing.
        Open pages skip an event they already have (by sequence number) and catch up from the
        stored log when it is ahead of them, so one event is enough, whatever was missed.
        """
        try:
            record = await self.store.get_job(job_id)
            if record is None or record.last_seq == 0:
                return
            newest = await self.store.events_after(job_id, record.last_seq - 1)
        except StoreUnavailable as exc:
            # The bus reconnects when the store does, and every stream then re-reads its log.
            log.warning("could not re-publish the newest event of %s: %s", job_id, exc)
            return
        if newest:
            await self.bus.publish(newest[-1:])

    async def accept_field_event(self, event: FieldEvent) -> ChangeResult:
        region = self.settings.default_region
        policy = self.policy
        eta_config = self.eta_config
        slot_policy = self.slot_policy

        def decide(before: Job | None) -> Decision:
            now = utc_now()
            # A new window (or a closed job) answers the customer's pending requests.
            after = settle_requests(mark_progress(apply_event(before, event, region), now, eta_config))
            outbox = [from_notice(n) for n in notices(before, after, now, policy)]
            check = late_check_item(before, after)  # due when the window ends, if not started by then
            if check is not None:
                outbox.append(check)
            events = live_events(before, after, now, eta_config, slot_policy)
            return Decision(job=after, events=events, outbox=outbox)

        return await self.change(event.job_id, decide, webhook_id=event.webhook_id)

    async def check_late(self, job_id: str, window_end: str) -> bool:
        """A due lateness check (``portal/notify/lateness.py``): True when it marked the job late."""
        policy, eta_config, slot_policy = self.policy, self.eta_config, self.slot_policy

        def decide(before: Job | None) -> Decision:
            decision = late_decision(before, window_end, utc_now(), policy, eta_config, slot_policy)
            if decision is None:
                raise NothingLate(job_id)
            return decision

        try:
            await self.change(job_id, decide)
        except NothingLate:
            return False
        return True

    async def link_url(self, job_id: str) -> str | None:
        record = await self.store.get_job(job_id)
        if record is None:
            return None
        return self.links.url(self.public_url, record.link_key)


def eta_config_of(settings: Settings) -> EtaConfig:
    """The ETA estimator's tuning the operator configured."""
    return EtaConfig(
        detour_factor=settings.eta_detour_factor,
        urban_speed_mps=settings.eta_urban_speed_kmh * KMH,
        stale_after=timedelta(seconds=settings.location_stale_seconds),
        arrival_radius_m=settings.arrival_radius_m,
    )


def policy_of(settings: Settings) -> Policy:
    """The notification policy the operator configured."""
    return Policy(
        enabled=settings.notifications,
        quiet_hours=settings.quiet_hours,
        reminder_time=settings.reminder_time,
        reminder_lead=timedelta(hours=settings.reminder_lead_hours),
    )
