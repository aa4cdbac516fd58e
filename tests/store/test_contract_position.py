"""Position reports on every backend: the lean write keeps every guarantee of the whole one.

A change that moves none of a job's indexed values (``rules.INDEXED_FIELDS``), a ping above
all, rewrites only the document and its stamps. Here, on SQLite and Redis alike: the job is
still found by every search and ranked newest first, an indexed value that moves later is
rewritten, and a ping taken through ``JobChanges`` stores the same document, events, outbox
rows and attention reasons as the whole comparison of public states would, moves no counter,
and ignores an older position.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from portal.bus.memory import MemoryBus
from portal.clock import utc_now
from portal.core.eta import EtaConfig
from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.core.policy import Policy
from portal.core.public import state_events
from portal.core.slots import SlotPolicy
from portal.core.tallies import bucket_of
from portal.metrics import Metrics
from portal.notify.changes import JobChanges
from portal.store.base import ChangeResult, Decision, JobSearch, Store

pytestmark = pytest.mark.anyio
HOME = (41.8868, -87.6574)
METRES_PER_DEGREE = 111_195.0


def updated(job_id: str, at: dt.datetime, **fields: Any) -> FieldEvent:
    return FieldEvent(f"u-{job_id}-{at.timestamp()}", "job.updated", at, {"job": {"id": job_id, **fields}})


def ping(job_id: str, at: dt.datetime, north_m: float, n: int = 0) -> FieldEvent:
    data = {
        "job_id": job_id,
        "lat": HOME[0] + north_m / METRES_PER_DEGREE,
        "lon": HOME[1],
        "accuracy_m": 5,
        "speed_mps": 9.0,
        "recorded_at": at.isoformat(),
    }
    return FieldEvent(f"p-{job_id}-{n}", "technician.location", at, data)


def booked(job_id: str, at: dt.datetime, window_end: dt.datetime, **extra: Any) -> FieldEvent:
    fields = {
        "reference": f"R-{job_id}",
        "status": "en_route",
        "timezone": "America/Chicago",
        "window": {"start": (window_end - dt.timedelta(hours=2)).isoformat(), "end": window_end.isoformat()},
        "customer": {"name": "Maria Lopez", "phone": "(312) 555-0142", "email": "maria@example.com"},
        "address": {"text": "1 Main St", "lat": HOME[0], "lon": HOME[1]},
    }
    return updated(job_id, at, **{**fields, **extra})


async def apply(store: Store, event: FieldEvent) -> ChangeResult:
    def decide(before: Job | None) -> Decision:
        return Decision(apply_event(before, event), [("job", {"webhook": event.webhook_id})])

    return await store.change_job(event.job_id, decide, webhook_id=event.webhook_id)


async def found(store: Store, search: JobSearch) -> list[str]:
    return [record.job.id for record in await store.search_jobs(search, limit=10)]


async def test_a_ping_keeps_the_job_found_by_every_search_and_first_among_the_newest(store: Store) -> None:
    t0 = utc_now()
    await apply(store, booked("J1", t0, t0 + dt.timedelta(hours=2)))
    await apply(store, booked("J2", t0, t0 + dt.timedelta(hours=2), reference="OTHER"))
    first = await store.get_job("J1")
    result = await apply(store, ping("J1", t0, 3000))
    assert [e.seq for e in result.events] == [2]
    record = await store.get_job("J1")
    assert first is not None and record is not None
    assert record.job.location is not None and record.last_seq == 2 and record.updated_at > first.updated_at
    assert await found(store, JobSearch("R-J1")) == ["J1"]
    assert await found(store, JobSearch("x", phone="+13125550142")) == ["J1", "J2"]  # newest first
    assert await found(store, JobSearch("maria", pattern="maria")) == ["J1", "J2"]
    assert await found(store, JobSearch("example.com", pattern="example.com")) == ["J1", "J2"]
    assert await found(store, JobSearch("0142", digits="0142")) == ["J1", "J2"]
    assert [r.job.id for r in await store.jobs_by_phone("+13125550142", 5)] == ["J1", "J2"]
    assert [e.seq for e in await store.events_after("J1", 0) or []] == [1, 2]


async def test_an_indexed_value_that_moves_after_pings_is_rewritten_with_its_indexes(store: Store) -> None:
    t0 = utc_now()
    await apply(store, booked("J1", t0, t0 + dt.timedelta(hours=2)))
    for n in range(3):
        await apply(store, ping("J1", t0 + dt.timedelta(seconds=n), 3000 - 100 * n, n))
    later = t0 + dt.timedelta(seconds=10)
    await apply(store, updated("J1", later, status="completed", customer={"name": "Ann Other"}))
    assert await found(store, JobSearch("lopez", pattern="lopez")) == []
    assert await found(store, JobSearch("ann o", pattern="ann o")) == ["J1"]
    await apply(store, ping("J1", later + dt.timedelta(seconds=1), 10, 9))  # a closed job's last ping
    record = await store.get_job("J1")
    assert record is not None and record.job.closed_at == iso_utc(later)
    assert await store.purge_closed_jobs(iso_utc(later + dt.timedelta(seconds=1)), 10) == 1
    assert await store.get_job("J1") is None


class WholeComparison(JobChanges):
    """``JobChanges`` as it was before the shortcut: live events from two whole public states."""

    def live_events(self, before: Job | None, after: Job, now: dt.datetime) -> list[tuple[str, dict[str, Any]]]:
        return state_events(before, after, now, self.eta_config, self.slot_policy)


def changes_for(store: Store, kind: type[JobChanges], now: dt.datetime) -> JobChanges:
    policy = Policy(enabled=frozenset({"running_late", "arriving", "en_route"}))
    return kind(
        store,
        MemoryBus(),
        Metrics(),
        policy=policy,
        eta_config=EtaConfig(),
        slot_policy=SlotPolicy(),
        region="US",
        clock=lambda: now,
    )


def named(job_id: str, value: Any) -> Any:
    """``value`` with the job's id written as "J", so two jobs' records compare."""
    if isinstance(value, str):
        return value.replace(job_id, "J")
    if isinstance(value, dict):
        return {named(job_id, k): named(job_id, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [named(job_id, v) for v in value]
    return value


async def what_is_stored(store: Store, job_id: str, now: dt.datetime) -> dict[str, Any]:
    record = await store.get_job(job_id)
    assert record is not None
    events = await store.events_after(job_id, 0) or []
    rows = await store.list_outbox(job_id)
    item = await store.job_attention(job_id, iso_utc(now))
    return named(
        job_id,
        {
            "doc": record.job.to_dict(),
            "last_seq": record.last_seq,
            "events": [(e.seq, e.type, e.data) for e in events],
            "outbox": [(r.dedup_key, r.kind, r.payload, r.state) for r in rows],
            "attention": item.reasons if item else (),
        },
    )


async def test_pings_store_what_the_whole_comparison_stores_late_notice_and_flag_included(store: Store) -> None:
    now = utc_now()
    window_end = now + dt.timedelta(minutes=5)  # 15 km out with five minutes left: late
    pings = [(-120, 16_000), (-60, 15_500), (-90, 15_800), (-60, 15_500), (-30, 15_000)]  # an older one, a repeat
    for job_id, kind in (("FAST", JobChanges), ("WHOLE", WholeComparison)):
        changes = changes_for(store, kind, now)
        await changes.accept_field_event(booked(job_id, now - dt.timedelta(minutes=10), window_end))
        for n, (seconds, north_m) in enumerate(pings):
            await changes.accept_field_event(ping(job_id, now + dt.timedelta(seconds=seconds), north_m, n))
    fast, whole = await what_is_stored(store, "FAST", now), await what_is_stored(store, "WHOLE", now)
    assert fast == whole
    assert "late" in fast["attention"]
    assert [row[0] for row in fast["outbox"] if "running_late" in row[0]] == [
        f"J:running_late:{iso_utc(window_end)}:sms"
    ]
    kinds = [kind for _, kind, _ in fast["events"]]
    # Booked; two pings; an older one and a repeat only lengthen the trail; then a newer one.
    assert kinds == ["status", "job", "location", "eta", "location", "eta", "location", "location", "location", "eta"]


async def test_pings_move_no_counter_and_an_older_one_leaves_the_newer_position(store: Store) -> None:
    now = utc_now()
    changes = changes_for(store, JobChanges, now)
    await changes.accept_field_event(booked("J1", now - dt.timedelta(minutes=10), now + dt.timedelta(hours=3)))
    edges = [bucket_of(now - dt.timedelta(days=1)), bucket_of(now + dt.timedelta(days=1))]
    counted = await store.tallies(edges)
    newer = await changes.accept_field_event(ping("J1", now - dt.timedelta(seconds=10), 3000, 1))
    older = await changes.accept_field_event(ping("J1", now - dt.timedelta(seconds=40), 3400, 2))
    assert not newer.attention and not older.attention
    assert await store.tallies(edges) == counted
    assert await store.job_attention("J1", iso_utc(now)) is None
    record = await store.get_job("J1")
    assert record is not None and record.job.location is not None
    assert record.job.location["recorded_at"] == iso_utc(now - dt.timedelta(seconds=10))
    assert [len(record.job.location["path"]), record.last_seq] == [2, newer.events[-1].seq + len(older.events)]
