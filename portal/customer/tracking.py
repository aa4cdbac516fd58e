"""The tracking link's service: who may see a job, and the live stream of its changes.

``Tracking`` holds exactly the collaborators a page needs. The stream yields plain
``PageEvent`` records; the web edge (``portal/web/tracking.py``) turns them into SSE frames.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from portal.bus.base import LAGGED, LINK_CHANGED, Bus
from portal.clock import Clock, utc_now
from portal.core.eta import EtaConfig
from portal.core.events import StoredEvent
from portal.core.jobs import parse_iso
from portal.core.public import STATUS_LABELS, public_state
from portal.core.slots import SlotPolicy
from portal.customer.ics import appointment_ics
from portal.i18n import Translations
from portal.links import LinkSigner
from portal.metrics import Metrics
from portal.store.base import JobRecord, Store, StoreUnavailable
from portal.store.throttle import SharedThrottle

CATCH_UP_RETRY_SECONDS = 1.0  # while the store cannot answer a stream's catch-up, it asks again this often
LABELLED_EVENTS = ("snapshot", "job", "status")  # the events whose data carries ``status_label``


class LinkRefused(Exception):
    """404 forged, 410 revoked or expired, 429 too many bad tokens from this client."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class PageEvent:
    """One event for an open page: its kind (the SSE ``event``), sequence number and data."""

    kind: str
    seq: int
    data: dict[str, Any]


@dataclass(frozen=True)
class LinkRules:
    """How links are judged and drawn: expiry after the job closes, and where they point."""

    ttl_days: int
    public_url: str


class Tracking:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        links: LinkSigner,
        throttle: SharedThrottle,
        metrics: Metrics,
        translations: Translations,
        rules: LinkRules,
        *,
        eta_config: EtaConfig,
        slot_policy: SlotPolicy,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.bus = bus
        self.links = links
        self.throttle = throttle
        self.metrics = metrics
        self.translations = translations
        self.rules = rules
        self.eta_config = eta_config
        self.slot_policy = slot_policy
        self.clock = clock

    async def open_link(self, token: str, client: str) -> JobRecord:
        key = self.links.link_key(token)  # an HMAC check: cheap, and it decides what is counted
        if key is None:
            # Count the forgery and check the limit in one step: parallel forgeries cannot all
            # pass a check before any of them is counted (as they could on Redis, where each
            # check is a round trip), so at most the limit of them get an answer other than 429.
            if await self.throttle.reserve(client) is None:
                self.metrics.bad_links.labels("throttled").inc()
                raise LinkRefused(429)
            self.metrics.bad_links.labels("forged").inc()
            raise LinkRefused(404)
        if await self.throttle.is_blocked(client):
            self.metrics.bad_links.labels("throttled").inc()
            raise LinkRefused(429)
        lookup = await self.store.resolve_link(key)
        record = lookup.record
        if record is None or self._expired(record):
            self.metrics.bad_links.labels("gone").inc()
            raise LinkRefused(410)
        return record

    async def still_open(self, record: JobRecord) -> bool:
        """Whether the link a stream was opened with still opens (not revoked, expired or purged).

        With the store unavailable the stream is left open: a reconnect is checked in full.
        """
        try:
            lookup = await self.store.resolve_link(record.link_key)
        except StoreUnavailable:
            return True
        return lookup.record is not None and not self._expired(lookup.record)

    def _expired(self, record: JobRecord) -> bool:
        closed = record.job.closed_at
        if closed is None:
            return False
        return self.clock() > parse_iso(closed) + timedelta(days=self.rules.ttl_days)

    def state_of(self, record: JobRecord) -> dict[str, Any]:
        """The public state with the portal's ETA and slot settings, labelled in the customer's language."""
        state = public_state(record.job, self.clock(), self.eta_config, self.slot_policy)
        state["status_label"] = self.labels_of(record).get(state["status"], state["status_label"])
        return state

    def labels_of(self, record: JobRecord) -> dict[str, str]:
        return self.translations.localizer(record.job.customer.get("locale")).status_labels()

    def calendar_of(self, record: JobRecord) -> bytes | None:
        """The appointment as an .ics file (None without a window), linking back to the page."""
        rules = self.rules
        link = self.links.url(rules.public_url, record.link_key)
        # The operator's name as given, else the default name in the customer's language.
        company = self.translations.localizer(record.job.customer.get("locale")).company_name
        return appointment_ics(record.job, link, rules.public_url, company, self.clock())

    async def event_stream(self, record: JobRecord, last_event_id: str | None) -> AsyncGenerator[PageEvent, None]:
        """The live events of a page, labelled in the customer's language (see ``_events``)."""
        labels = self.labels_of(record)
        async with contextlib.aclosing(self._events(record, last_event_id)) as events:
            if labels == STATUS_LABELS:  # stored events already carry these: nothing to rewrite
                async for event in events:
                    yield event
                return
            async for event in events:
                yield _relabel(event, labels)

    async def _events(self, record: JobRecord, last_event_id: str | None) -> AsyncGenerator[PageEvent, None]:
        """``snapshot`` then live events; with ``Last-Event-ID``, the missed events instead.

        Subscribing happens before the snapshot is read, so nothing published in between is
        lost; events the snapshot already contains are skipped by sequence number. The stream
        ends when its link is revoked (announced on the bus, or noticed after a gap); the
        browser's reconnect then meets the 410 page.
        """
        job_id = record.job.id
        subscription = self.bus.subscribe(job_id)
        self.metrics.sse_open.inc()
        try:
            cursor = _resume_point(last_event_id, record.last_seq)
            if cursor is None:
                cursor, first = await self._snapshot(job_id)
                yield first
            else:
                cursor, events = await self._catch_up(job_id, cursor)
                for event in events:
                    yield event
            behind = False  # a catch-up the store could not answer: try again soon, not only on news
            while True:
                item = await self._next(subscription.queue, retry=behind)
                if (item is LINK_CHANGED or item is LAGGED) and not await self.still_open(record):
                    return
                if item is LINK_CHANGED:
                    continue
                if isinstance(item, StoredEvent):
                    if item.seq <= cursor:
                        continue
                    if item.seq == cursor + 1:
                        cursor = item.seq
                        yield PageEvent(item.type, item.seq, item.data)
                        continue
                try:
                    cursor, events = await self._catch_up(job_id, cursor)
                except StoreUnavailable:
                    # Redis restarting, say: the page keeps its connection and its place, and
                    # reads what it missed once the store answers (nothing is skipped).
                    behind = True
                    continue
                behind = False
                for event in events:
                    yield event
        finally:
            self.bus.unsubscribe(subscription)
            self.metrics.sse_open.dec()

    @staticmethod
    async def _next(queue: asyncio.Queue[Any], *, retry: bool) -> Any:
        """The next bus item; while behind, ``LAGGED`` after a short wait if nothing comes."""
        if not retry:
            return await queue.get()
        try:
            return await asyncio.wait_for(queue.get(), CATCH_UP_RETRY_SECONDS)
        except TimeoutError:
            return LAGGED

    async def _snapshot(self, job_id: str) -> tuple[int, PageEvent]:
        record = await self.store.get_job(job_id)
        if record is None:  # purged while the page was open
            raise LinkRefused(410)
        return record.last_seq, PageEvent("snapshot", record.last_seq, self.state_of(record))

    async def _catch_up(self, job_id: str, cursor: int) -> tuple[int, list[PageEvent]]:
        """Events after ``cursor`` from the stored log, or a fresh snapshot if the log moved on."""
        events = await self.store.events_after(job_id, cursor)
        if events is None:
            seq, snapshot = await self._snapshot(job_id)
            return seq, [snapshot]
        if not events:
            return cursor, []
        record = await self.store.get_job(job_id)
        en_route = record is not None and record.job.status == "en_route"
        out = [page for e in events if (page := _redact(e, en_route)) is not None]
        return events[-1].seq, out


def _relabel(event: PageEvent, labels: dict[str, str]) -> PageEvent:
    """Stored events carry English labels; a reader gets them in the customer's language."""
    if event.kind not in LABELLED_EVENTS:
        return event
    label = labels.get(str(event.data.get("status")))
    if label is None or label == event.data.get("status_label"):
        return event
    return PageEvent(event.kind, event.seq, {**event.data, "status_label": label})


# Everything that says where the technician is or is heading, shown only while on the way.
EN_ROUTE_ONLY = ("location", "eta", "trail", "route", "destination")


def _redact(event: StoredEvent, en_route_now: bool) -> PageEvent | None:
    """Replayed events must not reveal a position once the technician is no longer en route.

    The ETA, trail, route and destination go with it: each tells where the technician was.
    """
    data = event.data
    if not en_route_now:
        if event.type in ("location", "eta"):
            return None
        if any(data.get(key) is not None for key in EN_ROUTE_ONLY):
            data = {**data, **dict.fromkeys(EN_ROUTE_ONLY)}
    return PageEvent(event.type, event.seq, data)


def _resume_point(last_event_id: str | None, last_seq: int) -> int | None:
    if not last_event_id:
        return None
    try:
        seq = int(last_event_id)
    except ValueError:
        return None
    return seq if 0 <= seq <= last_seq else None
