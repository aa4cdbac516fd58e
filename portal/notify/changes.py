"""Job changes: the one way to write something that makes live events or outbox rows.

Every such write (a field event, a customer's action, a due lateness check, a staff resend,
an SMS opt-out) goes through ``JobChanges``, so that waking the worker for new outbox rows
and publishing new live events to open pages happen here and nowhere else.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from portal.bus.base import Bus
from portal.clock import Clock, utc_now
from portal.core import route as road
from portal.core.actions import settle_requests
from portal.core.eta import EtaConfig
from portal.core.eta_log import observe as observe_eta
from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.core.policy import Policy, notices
from portal.core.public import live_events
from portal.core.slots import SlotPolicy
from portal.core.trip import mark_progress
from portal.metrics import Metrics
from portal.notify.lateness import NothingLate, late_decision
from portal.notify.outbox import from_notice, late_check_item
from portal.store.base import ChangeResult, Decision, OutboxItem, Store, StoredEvent, StoreUnavailable

log = logging.getLogger("portal")


# The bus channel that tells open attention pages the queue changed. Job ids are at most 128
# characters (the webhook schema), so this longer name can never be a job's channel.
STAFF_CHANNEL = "staff-attention:" + "-" * 128


def _no_worker() -> None:
    """What ``wake`` does in a process that runs no worker: the rows wait for one that does."""


def _no_router(job: Job) -> None:
    """What ``stored_field_change`` does without road routing: nothing to ask."""


class RouteOutdated(Exception):
    """The drive a route was asked for is over (arrived, or another trip): nothing to store."""


class JobChanges:
    """Applies changes atomically in the store, then wakes the worker and publishes."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        metrics: Metrics,
        *,
        policy: Policy,
        eta_config: EtaConfig,
        slot_policy: SlotPolicy,
        region: str,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.bus = bus
        self.metrics = metrics
        self.policy = policy
        self.eta_config = eta_config
        self.slot_policy = slot_policy
        self.region = region
        self.clock = clock
        # Set by the runtime once the worker exists (the worker in turn calls ``check_late``).
        self.wake: Callable[[], None] = _no_worker
        # Set by the runtime with road routing: sees each stored field change, asks in the background.
        self.stored_field_change: Callable[[Job], None] = _no_router

    def live_events(self, before: Job | None, after: Job, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        """The events open pages need for this change, under the portal's ETA and slot settings."""
        return live_events(before, after, now, self.eta_config, self.slot_policy)

    async def change(
        self, job_id: str, decide: Callable[[Job | None], Decision], webhook_id: str | None = None
    ) -> ChangeResult:
        """Apply a change atomically, then push its live events to open pages."""
        result = await self.store.change_job(job_id, decide, webhook_id=webhook_id)
        if result.queued:
            self.wake()
        if result.events:
            if not result.published:
                await self.bus.publish(result.events)
            for event in result.events:
                self.metrics.events_published.labels(event.type).inc()
        elif result.duplicate:
            await self.republish_newest(job_id)
        if result.attention:
            await self.nudge_staff()
        return result

    async def nudge_staff(self) -> None:
        """Tell open attention pages (in every process) that the queue changed; they re-read it."""
        await self.bus.publish([StoredEvent(STAFF_CHANNEL, 0, "attention", {}, iso_utc(self.clock()))])

    async def republish_newest(self, job_id: str) -> None:
        """Publish a job's newest stored event again, for a webhook seen before.

        A retried webhook may follow a change whose live events no page got: stored by a process
        that died before publishing, or on Redis written (and published, maybe while this
        process's pub/sub connection was down) with the reply lost, so the first attempt failed.
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
        """A verified field-system event: the new job state, its notifications and live events."""
        region = self.region
        stored: list[Job] = []  # the job as the (last) decision left it, for the router

        def decide(before: Job | None) -> Decision:
            decision = self._decision(before, apply_event(before, event, region))
            stored[:] = [decision.job]
            return decision

        result = await self.change(event.job_id, decide, webhook_id=event.webhook_id)
        if stored and not result.duplicate:
            self.stored_field_change(stored[0])  # starts no more than a task: the webhook's answer does not wait
        return result

    def _decision(self, before: Job | None, changed: Job) -> Decision:
        """What a change to a job brings: marks, messages, a lateness check and live events."""
        now = self.clock()
        # A new window (or a closed job) answers the customer's pending requests.
        after = settle_requests(mark_progress(changed, now, self.eta_config))
        after = observe_eta(after, now, self.eta_config)  # the range the page shows now, for ETA accuracy
        outbox = [from_notice(n) for n in notices(before, after, now, self.policy)]
        check = late_check_item(before, after)  # due when the window ends, if not started by then
        if check is not None:
            outbox.append(check)
        return Decision(job=after, events=self.live_events(before, after, now), outbox=outbox)

    async def store_route(self, job_id: str, trip: str, answer: road.Answer) -> None:
        """Keep a road route for the drive it was asked for (a job that moved on keeps none).

        A change of its own, after the position's: the routing request is never made inside a
        store write. Its ``eta`` and ``job`` events tell open pages about the road.
        """
        coordinates, duration_s, distance_m = answer

        def decide(before: Job | None) -> Decision:
            if before is None or before.status != "en_route" or road.trip_of(before) != trip:
                raise RouteOutdated(job_id)
            return self._decision(before, road.stored(before, coordinates, duration_s, distance_m, self.clock()))

        with contextlib.suppress(RouteOutdated):
            await self.change(job_id, decide)

    async def check_late(self, job_id: str, window_end: str) -> bool:
        """A due lateness check (``portal/notify/lateness.py``): True when it marked the job late."""
        policy, eta_config, slot_policy, clock = self.policy, self.eta_config, self.slot_policy, self.clock

        def decide(before: Job | None) -> Decision:
            decision = late_decision(before, window_end, clock(), policy, eta_config, slot_policy)
            if decision is None:
                raise NothingLate(job_id)
            return decision

        try:
            await self.change(job_id, decide)
        except NothingLate:
            return False
        return True

    async def opt_out(
        self, phone: str, opted_out: bool, channel: str, at: datetime, told: tuple[OutboxItem, ...]
    ) -> int:
        """An opt-out (or back in) and the callbacks telling the field system, in one write."""
        queued = await self.store.record_opt_out(phone, opted_out, channel, iso_utc(at), told)
        if queued:
            self.wake()
        return queued
