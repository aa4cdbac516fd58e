"""The tracking link's service: who may see a job, and the live stream of its changes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta
from typing import Any

from sse_starlette import ServerSentEvent

from portal.bus.base import LAGGED, LINK_CHANGED
from portal.core.jobs import parse_iso
from portal.core.public import STATUS_LABELS, public_state, utc_now
from portal.customer.ics import appointment_ics
from portal.i18n import Translations
from portal.runtime import Portal
from portal.store.base import JobRecord, StoredEvent, StoreUnavailable


class LinkRefused(Exception):
    """404 forged, 410 revoked or expired, 429 too many bad tokens from this client."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


async def open_link(portal: Portal, token: str, client: str) -> JobRecord:
    if await portal.link_throttle.is_blocked(client):
        portal.metrics.bad_links.labels("throttled").inc()
        raise LinkRefused(429)
    key = portal.links.link_key(token)
    if key is None:
        await portal.link_throttle.record(client)
        portal.metrics.bad_links.labels("forged").inc()
        raise LinkRefused(404)
    lookup = await portal.store.resolve_link(key)
    record = lookup.record
    if record is None or _expired(portal, record):
        portal.metrics.bad_links.labels("gone").inc()
        raise LinkRefused(410)
    return record


async def still_open(portal: Portal, record: JobRecord) -> bool:
    """Whether the link a stream was opened with still opens (not revoked, expired or purged).

    With the store unavailable the stream is left open: a reconnect is checked in full.
    """
    try:
        lookup = await portal.store.resolve_link(record.link_key)
    except StoreUnavailable:
        return True
    return lookup.record is not None and not _expired(portal, lookup.record)


def _expired(portal: Portal, record: JobRecord) -> bool:
    closed = record.job.closed_at
    if closed is None:
        return False
    return utc_now() > parse_iso(closed) + timedelta(days=portal.settings.link_ttl_days)


def state_of(portal: Portal, record: JobRecord) -> dict[str, Any]:
    """The public state with the portal's ETA and slot settings, labelled in the customer's language."""
    state = public_state(record.job, utc_now(), portal.eta_config, portal.slot_policy)
    state["status_label"] = labels_of(record, portal.translations).get(state["status"], state["status_label"])
    return state


def labels_of(record: JobRecord, translations: Translations) -> dict[str, str]:
    return translations.localizer(record.job.customer.get("locale")).status_labels()


LABELLED_EVENTS = ("snapshot", "job", "status")  # the events whose data carries ``status_label``


def _relabel(event: ServerSentEvent, labels: dict[str, str]) -> ServerSentEvent:
    """Stored events carry English labels; a reader gets them in the customer's language."""
    if event.event not in LABELLED_EVENTS or not isinstance(event.data, str):
        return event
    data = json.loads(event.data)
    label = labels.get(str(data.get("status")))
    if label is None or label == data.get("status_label"):
        return event
    return _sse(str(event.event), int(str(event.id)), {**data, "status_label": label})


def calendar_of(portal: Portal, record: JobRecord) -> bytes | None:
    """The appointment as an .ics file (None without a window), linking back to the page."""
    link = portal.links.url(portal.public_url, record.link_key)
    return appointment_ics(record.job, link, portal.public_url, portal.settings.company_name, utc_now())


def _redact(event: StoredEvent, en_route_now: bool) -> ServerSentEvent | None:
    """Replayed events must not reveal a position once the technician is no longer en route.

    The ETA goes with it: it carries the distance from the last position.
    """
    data = event.data
    if not en_route_now:
        if event.type in ("location", "eta"):
            return None
        if data.get("location") is not None or data.get("eta") is not None:
            data = {**data, "location": None, "eta": None}
    return _sse(event.type, event.seq, data)


def _sse(kind: str, seq: int, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(data, separators=(",", ":")), event=kind, id=str(seq))


async def _snapshot(portal: Portal, job_id: str) -> tuple[int, ServerSentEvent]:
    record = await portal.store.get_job(job_id)
    if record is None:  # purged while the page was open
        raise LinkRefused(410)
    return record.last_seq, _sse("snapshot", record.last_seq, state_of(portal, record))


async def event_stream(portal: Portal, record: JobRecord, last_event_id: str | None) -> AsyncIterator[ServerSentEvent]:
    """The live events of a page, labelled in the customer's language (see ``_events``)."""
    labels = labels_of(record, portal.translations)
    async with contextlib.aclosing(_events(portal, record, last_event_id)) as events:
        if labels == STATUS_LABELS:  # stored events already carry these: nothing to rewrite
            async for event in events:
                yield event
            return
        async for event in events:
            yield _relabel(event, labels)


async def _events(
    portal: Portal, record: JobRecord, last_event_id: str | None
) -> AsyncGenerator[ServerSentEvent, None]:
    """``snapshot`` then live events; with ``Last-Event-ID``, the missed events instead.

    Subscribing happens before the snapshot is read, so nothing published in between is
    lost; events the snapshot already contains are skipped by sequence number. The stream
    ends when its link is revoked (announced on the bus, or noticed after a gap); the
    browser's reconnect then meets the 410 page.
    """
    job_id = record.job.id
    subscription = portal.bus.subscribe(job_id)
    portal.metrics.sse_open.inc()
    try:
        cursor = _resume_point(last_event_id, record.last_seq)
        if cursor is None:
            cursor, first = await _snapshot(portal, job_id)
            yield first
        else:
            cursor, events = await _catch_up(portal, job_id, cursor)
            for event in events:
                yield event
        while True:
            item = await subscription.queue.get()
            if (item is LINK_CHANGED or item is LAGGED) and not await still_open(portal, record):
                return
            if item is LINK_CHANGED:
                continue
            if isinstance(item, StoredEvent):
                if item.seq <= cursor:
                    continue
                if item.seq == cursor + 1:
                    cursor = item.seq
                    yield _sse(item.type, item.seq, item.data)
                    continue
            cursor, events = await _catch_up(portal, job_id, cursor)
            for event in events:
                yield event
    finally:
        portal.bus.unsubscribe(subscription)
        portal.metrics.sse_open.dec()


def _resume_point(last_event_id: str | None, last_seq: int) -> int | None:
    if not last_event_id:
        return None
    try:
        seq = int(last_event_id)
    except ValueError:
        return None
    return seq if 0 <= seq <= last_seq else None


async def _catch_up(portal: Portal, job_id: str, cursor: int) -> tuple[int, list[ServerSentEvent]]:
    """Events after ``cursor`` from the stored log, or a fresh snapshot if the log moved on."""
    events = await portal.store.events_after(job_id, cursor)
    if events is None:
        seq, snapshot = await _snapshot(portal, job_id)
        return seq, [snapshot]
    if not events:
        return cursor, []
    record = await portal.store.get_job(job_id)
    en_route = record is not None and record.job.status == "en_route"
    out = [sse for e in events if (sse := _redact(e, en_route)) is not None]
    return events[-1].seq, out
