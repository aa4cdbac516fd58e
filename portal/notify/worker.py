"""The notification worker: claims due outbox rows, delivers them, records the outcome.

It runs inside ``portal serve`` and alone as ``portal worker``. It never polls row by row:
a commit that queues rows wakes it at once (``wake``), and otherwise it sleeps until the
next row falls due, at most ``idle_seconds`` so rows queued by another process are seen.
A claimed row is leased; if this process dies mid-delivery the lease runs out and any
worker delivers the row again (at most once more for a message that was in flight).

A ``late_check`` row is not delivered but handed to ``late_check`` (the portal's atomic job
change, ``JobChanges.check_late``); a worker built without one does not claim those rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from portal.channels import make_channels
from portal.channels.base import Channel, DeliveryError, Outgoing, Receipt
from portal.clock import utc_now
from portal.core.attention import FAILED_STATUSES, callback_flags
from portal.core.contacts import single_address
from portal.core.jobs import Job, iso_utc, parse_iso
from portal.core.policy import still_valid
from portal.links import LinkSigner
from portal.metrics import Metrics
from portal.notify.callbacks import envelope, opt_out_callback, webhook_id
from portal.notify.outbox import (
    CALLBACK,
    LATE_CHECK,
    SENDABLE_KINDS,
    Backoff,
    deadline,
    failed_callback,
    fallback_email,
)
from portal.notify.render import MessageRenderer, Rendered, RenderError, context_for
from portal.settings import Settings
from portal.store.base import Message, OutboxItem, OutboxRow, Settlement, Store, StoreUnavailable, stop_task

log = logging.getLogger("portal.notify.worker")

IDLE_SECONDS = 5.0  # longest sleep: rows queued by another process wait at most this long
MIN_SLEEP_SECONDS = 0.05  # never spin, even when a row is due right now
MAX_IN_FLIGHT = 16  # concurrent deliveries: enough to keep a provider busy, gentle on its rate limit
BATCH = 16  # rows claimed per round trip
STOP_GRACE_SECONDS = 5.0  # deliveries under way get this long to finish at shutdown
PROVIDER_TIMEOUT_SECONDS = 10.0  # one provider call; also at most a third of the lease
UNREACHABLE = {
    "sms": "unreachable: the phone number cannot be used",
    "email": "unreachable: the email address is not exactly one address",
}
OPTED_OUT = "opted out of SMS"
STALE = "no longer applies"
# An outcome the store could not take is recorded again and again, first soon (a restarting
# Redis is back within a second or two), then every few seconds: a message that was sent must
# not be sent again just because its record was late.
RECORD_RETRY_FIRST_SECONDS = 0.2
RECORD_RETRY_MAX_SECONDS = 2.0


@dataclass(frozen=True)
class WorkerConfig:
    backoff: Backoff = field(default_factory=Backoff)
    idle_seconds: float = IDLE_SECONDS
    max_in_flight: int = MAX_IN_FLIGHT
    stop_grace: float = STOP_GRACE_SECONDS


class Worker:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        links: LinkSigner,
        metrics: Metrics,
        public_url: str,
        config: WorkerConfig | None = None,
        *,
        channels: dict[str, Channel] | None = None,
        clock: Callable[[], datetime] = utc_now,
        late_check: Callable[[str, str], Awaitable[bool]] | None = None,
        on_attention: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.links = links
        self.metrics = metrics
        self.public_url = public_url
        self.config = config or WorkerConfig()
        self.lease = timedelta(seconds=settings.worker_lease_seconds)
        timeout = min(PROVIDER_TIMEOUT_SECONDS, settings.worker_lease_seconds / 3)
        self.channels = channels if channels is not None else make_channels(settings, public_url, timeout)
        self.renderer = MessageRenderer(settings)
        self.clock = clock
        # (job id, window end) -> whether the job was marked late; see ``JobChanges.check_late``.
        self.late_check = late_check
        self.kinds = (*SENDABLE_KINDS, LATE_CHECK) if late_check is not None else SENDABLE_KINDS
        # Called after a settlement that put a job in the staff's attention queue (a failure).
        self.on_attention = on_attention
        self._random = random.Random()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._unrecorded = 0  # deliveries waiting for the store to take their outcome

    # -- lifecycle -----------------------------------------------------------------

    def wake(self) -> None:
        """New rows were committed: look for due work now instead of at the next tick."""
        self._wake.set()

    async def start(self) -> None:
        for channel in self.channels.values():
            await channel.start()
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task, log)
        if self._inflight:
            # Unfinished deliveries keep their lease and are retried by the next worker.
            _, pending = await asyncio.wait(set(self._inflight), timeout=self.config.stop_grace)
            for task in pending:
                await stop_task(task, log)
        for channel in self.channels.values():
            await channel.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self._round()
            except StoreUnavailable as exc:
                log.warning("outbox unavailable, trying again shortly: %s", exc)
                delay = self.config.idle_seconds
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()

    async def _round(self) -> float:
        """Claim what is due and start delivering it; return how long to sleep."""
        free = self.config.max_in_flight - len(self._inflight)
        now = self.clock()
        claimed: list[OutboxRow] = []
        # While outcomes wait to be recorded the store is failing: claim nothing new, so when
        # it is back the outcomes are recorded before this worker could take any row again.
        if free > 0 and not self._unrecorded:
            claimed = await self.store.claim_outbox(self.kinds, iso_utc(now), iso_utc(now + self.lease), free)
        for row in claimed:
            task = asyncio.create_task(self._deliver_logged(row), name=f"deliver-{row.id}")
            self._inflight.add(task)
            task.add_done_callback(self._finished)
        if len(self._inflight) >= self.config.max_in_flight:
            return self.config.idle_seconds  # a finishing delivery wakes the loop
        if claimed:
            return 0.0
        await self._update_depth()
        return await self._idle_delay(now)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()

    async def _idle_delay(self, now: datetime) -> float:
        due = await self.store.next_outbox_due(self.kinds)
        if due is None:
            return self.config.idle_seconds
        wait = (parse_iso(due) - now).total_seconds()
        return min(self.config.idle_seconds, max(MIN_SLEEP_SECONDS, wait))

    async def _update_depth(self) -> None:
        depth = await self.store.outbox_counts()
        for kind in SENDABLE_KINDS:
            self.metrics.outbox_depth.labels(kind).set(depth.get(kind, 0))

    # -- one delivery ----------------------------------------------------------------

    async def _deliver_logged(self, row: OutboxRow) -> None:
        try:
            await self.deliver(row)
        except StoreUnavailable as exc:
            # Nothing was sent (``_settle`` waits out outages once something was): the row is
            # tried again when its lease ends.
            log.warning("outbox row %s not attempted, the store is unavailable: %s", row.id, exc)
        except Exception as exc:
            # A bug or a malformed row: back off like a transient failure (and give up after the
            # usual span) rather than retrying it every time its lease runs out.
            log.exception("delivering outbox row %s failed unexpectedly", row.id)
            with contextlib.suppress(StoreUnavailable):
                await self._transient(row, None, f"internal error: {type(exc).__name__}")

    async def deliver(self, row: OutboxRow) -> Settlement:
        """Deliver one claimed row and record the outcome; return what was recorded."""
        if row.kind == CALLBACK:
            return await self._callback(row)
        if row.kind == LATE_CHECK:
            return await self._late_check(row)
        record = await self.store.get_job(row.job_id) if row.job_id else None
        job = record.job if record else None
        payload = row.payload
        if not still_valid(payload, job) or record is None:
            return await self._settle(row, Settlement(row.id, "skipped", error=STALE), "skipped")
        link = self.links.url(self.public_url, record.link_key)
        to = payload.get("to")
        try:
            rendered = self.renderer.render(
                row.kind, str(payload["message"]), payload.get("locale"), context_for(payload, link)
            )
        except RenderError as exc:
            message_id = await self.store.begin_message(row.id, self._message(row, job, "", str(to or "")))
            return await self._permanent(row, message_id, str(exc), opted_out=False)
        message_id = await self.store.begin_message(row.id, self._message(row, job, rendered.body, to))
        if not to or (row.kind == "email" and single_address(to) is None):
            # Checked again here: rows queued before an address was checked, or by any path.
            error = UNREACHABLE.get(row.kind, "unreachable: no address")
            return await self._permanent(row, message_id, error, opted_out=False, status="not_sent")
        if row.kind == "sms" and await self.store.is_opted_out(str(to)):
            settlement = Settlement(
                row.id,
                "skipped",
                error=OPTED_OUT,
                message_id=message_id,
                message_status="not_sent",
                follow_ups=_items(fallback_email(row)),
            )
            return await self._settle(row, settlement, "skipped")
        return await self._send(row, message_id, str(to), rendered)

    async def _send(self, row: OutboxRow, message_id: int, to: str, rendered: Rendered) -> Settlement:
        channel = self.channels[row.kind]
        outgoing = Outgoing(to=to, body=rendered.body, subject=rendered.subject, html=rendered.html)
        try:
            receipt = await channel.send(outgoing)
        except DeliveryError as exc:
            if exc.permanent:
                return await self._permanent(row, message_id, exc.error, opted_out=exc.opted_out)
            return await self._transient(row, message_id, exc.error)
        return await self._accepted(row, message_id, receipt)

    async def _callback(self, row: OutboxRow) -> Settlement:
        """Send an event to the field system: no message history, no job needed (it may be purged)."""
        outgoing = Outgoing(to=self.settings.callback_url or "", body=envelope(row), message_id=webhook_id(row))
        try:
            receipt = await self.channels[CALLBACK].send(outgoing)
        except DeliveryError as exc:
            if exc.permanent:
                return await self._permanent(row, None, exc.error, opted_out=False)
            return await self._transient(row, None, exc.error, exc.retry_after)
        return await self._accepted(row, None, receipt)

    async def _late_check(self, row: OutboxRow) -> Settlement:
        """Mark the job late if it still is not started; a moved or kept promise leaves it be."""
        if self.late_check is None or row.job_id is None:
            return await self._settle(row, Settlement(row.id, "skipped", error=STALE), "skipped")
        marked = await self.late_check(row.job_id, str(row.payload.get("window_end")))
        settlement = Settlement(row.id, "done") if marked else Settlement(row.id, "skipped", error=STALE)
        return await self._settle(row, settlement, "done" if marked else "skipped")

    async def _accepted(self, row: OutboxRow, message_id: int | None, receipt: Receipt) -> Settlement:
        if receipt.status != "not_sent":
            due = parse_iso(str(row.payload.get("due") or row.created_at))
            latency = max(0.0, (self.clock() - due).total_seconds())
            self.metrics.delivery_latency.labels(row.kind).observe(latency)
        settlement = Settlement(
            row.id,
            "done",
            error=receipt.error,
            message_id=message_id,
            message_status=receipt.status,
            provider_id=receipt.provider_id,
        )
        return await self._settle(row, settlement, receipt.status)

    async def _transient(
        self, row: OutboxRow, message_id: int | None, error: str, at_least: float | None = None
    ) -> Settlement:
        """Retry later: after the backoff, or after ``at_least`` seconds (a ``Retry-After``) if longer."""
        now = self.clock()
        wait = max(self.config.backoff.delay(row.attempts, self._random.random()), at_least or 0.0)
        retry_at = now + timedelta(seconds=wait)
        if retry_at > deadline(row):
            gave_up = f"gave up after {row.attempts} attempts: {error}"
            return await self._permanent(row, message_id, gave_up, opted_out=False, state="dead")
        log.info("outbox row %s attempt %s failed (%s); retrying at %s", row.id, row.attempts, error, retry_at)
        settlement = Settlement(
            row.id, "pending", next_attempt_at=iso_utc(retry_at), error=error, message_id=message_id
        )
        return await self._settle(row, settlement, "retry")

    async def _permanent(
        self,
        row: OutboxRow,
        message_id: int | None,
        error: str,
        *,
        opted_out: bool,
        state: str = "failed",
        status: str = "failed",
    ) -> Settlement:
        log.warning("outbox row %s (%s) not delivered: %s", row.id, row.kind, error)
        # A callback that failed is not reported by another callback (that could never end).
        # Nor is a lateness check, which was never a message.
        failed = _items(failed_callback(row, error) if row.kind not in (CALLBACK, LATE_CHECK) else None)
        opt_out = str(row.payload.get("to")) if opted_out and row.payload.get("to") else None
        # Twilio's 21610 (the recipient texted STOP): the field system hears of it as of a STOP
        # to us, queued in the same transaction that records the opt-out.
        told = _items(
            opt_out_callback(opt_out, "opt_out", job_id=row.job_id, at=self.clock(), key=f"provider:{row.dedup_key}")
            if opt_out
            else None
        )
        follow_ups = (*_items(fallback_email(row)), *failed, *told)
        settlement = Settlement(
            row.id,
            state,
            error=error,
            message_id=message_id,
            message_status=status,
            follow_ups=follow_ups,
            opt_out=opt_out,
        )
        return await self._settle(row, settlement, state)

    async def _settle(self, row: OutboxRow, settlement: Settlement, outcome: str) -> Settlement:
        # Bound to this claim: if the lease ran out and another worker took the row over, the
        # store drops the outcome rather than overwrite that worker's.
        settlement = replace(settlement, lease_until=row.lease_until)
        if not await self._record(row, settlement):
            log.warning("outbox row %s: lease ran out before its outcome (%s) was recorded; dropped", row.id, outcome)
            return settlement
        if row.kind != LATE_CHECK:  # a check is no message
            self.metrics.messages.labels(row.kind, outcome).inc()
        if settlement.follow_ups:
            self.wake()
        if self.on_attention is not None and _needs_attention(settlement):
            await self.on_attention()
        return settlement

    async def _record(self, row: OutboxRow, settlement: Settlement) -> bool:
        """``settle_outbox``, retried until the store answers, holding the row's lease meanwhile.

        Giving up here would leave the row to be claimed again when its lease ends, and a
        message already sent would go out twice. While the store is down nobody can claim the
        row; once it answers, the lease is extended before it runs out, and the outcome is
        recorded as soon as the store takes writes again. Only a lease that ran out while the
        store was down for longer than the lease can still lose the race (documented in
        docs/operations.md).
        """
        delay = RECORD_RETRY_FIRST_SECONDS
        lease = settlement.lease_until
        self._unrecorded += 1
        try:
            while True:
                try:
                    return await self.store.settle_outbox(replace(settlement, lease_until=lease), iso_utc(self.clock()))
                except StoreUnavailable as exc:
                    if delay == RECORD_RETRY_FIRST_SECONDS:
                        log.warning("outbox row %s: cannot record its outcome yet, retrying: %s", row.id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX_SECONDS)
                if lease is not None and parse_iso(lease) - self.clock() < self.lease / 2:
                    renewed = iso_utc(self.clock() + self.lease)
                    try:
                        if not await self.store.extend_lease(row.id, lease, renewed):
                            return False  # settled or taken over meanwhile: not ours to record
                        lease = renewed
                    except StoreUnavailable:
                        pass  # still down: nobody else can claim it either
        finally:
            self._unrecorded -= 1

    def _message(self, row: OutboxRow, job: Job | None, body: str, to: str | None) -> Message:
        now = iso_utc(self.clock())
        email_from = self.settings.smtp_from
        sender = self.settings.twilio_from if row.kind == "sms" else email_from.address if email_from else None
        return Message(
            id=0,
            job_id=row.job_id,
            channel=row.kind,
            direction="out",
            to_addr=to,
            from_addr=sender,
            body=body,
            status="queued",
            provider_id=None,
            error=None,
            meta={"message": row.payload.get("message"), "dedup_key": row.dedup_key},
            created_at=now,
            updated_at=now,
        )


def _items(item: OutboxItem | None) -> tuple[OutboxItem, ...]:
    return (item,) if item is not None else ()


def _needs_attention(settlement: Settlement) -> bool:
    """Whether a settlement raised ``message_failed`` (``core/attention.py``)."""
    return settlement.message_status in FAILED_STATUSES or any(
        callback_flags(item.job_id, item.payload, "") for item in settlement.follow_ups
    )
