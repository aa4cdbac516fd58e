"""Retention: purging jobs closed long ago takes their personal data with them, on every backend."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3

import pytest
import redis

from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.store.base import AuditEntry, Decision, JobSearch, Message, OutboxItem, Settlement, Store
from portal.store.redis.store import RedisStore
from portal.store.retention import purge_closed
from portal.store.sqlite.store import SQLiteStore

pytestmark = pytest.mark.anyio
NOW = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)
LONG_AGO = NOW - dt.timedelta(days=400)
CUTOFF = iso_utc(NOW - dt.timedelta(days=90))
PHONES = {"OLD": "+13125550101", "OLD-SHARED": "+13125550102", "OPEN": "+13125550102", "RECENT": "+13125550103"}


async def add_job(store: Store, job_id: str, status: str, at: dt.datetime) -> None:
    customer = {"name": f"Customer {job_id}", "phone": PHONES[job_id], "email": f"{job_id.lower()}@example.com"}
    data = {"job": {"id": job_id, "status": status, "reference": f"REF-{job_id}", "customer": customer}}
    event = FieldEvent(f"w-{job_id}", "job.updated", at, data)
    item = OutboxItem(f"{job_id}:sms", "sms", job_id, {"to": PHONES[job_id], "message": status})

    def decide(before: Job | None) -> Decision:
        return Decision(apply_event(before, event), [("status", {"status": status})], [item])

    await store.change_job(job_id, decide, webhook_id=f"w-{job_id}")
    stamp = iso_utc(at)
    inbound = Message(
        0, job_id, "sms", "in", None, PHONES[job_id], "Running late?", "received", None, None, {}, stamp, stamp
    )
    await store.add_message(inbound)


async def deliver_all(store: Store) -> None:
    """Claim every queued SMS and record it as sent, so each job has a provider id too."""
    for row in await store.claim_outbox(("sms",), iso_utc(NOW), iso_utc(NOW + dt.timedelta(seconds=30)), 10):
        stamp = iso_utc(NOW)
        message = Message(
            0, row.job_id, "sms", "out", PHONES[str(row.job_id)], None, "hi", "queued", None, None, {}, stamp, stamp
        )
        message_id = await store.begin_message(row.id, message)
        settled = Settlement(
            row.id, "done", message_id=message_id, message_status="sent", provider_id=f"SM-{row.job_id}"
        )
        assert await store.settle_outbox(settled, stamp)


@pytest.fixture
async def jobs(store: Store) -> dict[str, list[str]]:
    """Two jobs closed long ago, one closed recently and one open; the link keys each had."""
    await add_job(store, "OLD", "completed", LONG_AGO)
    await add_job(store, "OLD-SHARED", "cancelled", LONG_AGO)
    await add_job(store, "OPEN", "scheduled", LONG_AGO)
    await add_job(store, "RECENT", "completed", NOW - dt.timedelta(days=10))
    await deliver_all(store)
    await store.rotate_link_key("OLD")  # a revoked key and a current one
    for phone in ("+13125550101", "+13125550102"):
        await store.set_conversation(phone, {"kind": "slot", "at": iso_utc(NOW)}, iso_utc(NOW))
    await store.add_audit(AuditEntry(iso_utc(NOW), "sam", "view", job_id="OLD"))
    return {job_id: [link.created_at for link in await store.link_history(job_id)] for job_id in PHONES}


async def link_keys(store: Store, job_id: str) -> list[str]:
    record = await store.get_job(job_id)
    assert record is not None
    return [record.link_key]


async def test_jobs_closed_long_ago_are_purged_with_their_personal_data(
    store: Store, jobs: dict[str, list[str]]
) -> None:
    old_key = await link_keys(store, "OLD")
    assert len(jobs["OLD"]) == 2
    assert await store.purge_closed_jobs(CUTOFF, 10) == 2
    for job_id in ("OLD", "OLD-SHARED"):
        assert await store.get_job(job_id) is None
        assert await store.list_messages(job_id) == []
        assert await store.list_outbox(job_id) == []
        assert await store.link_history(job_id) == []
        assert not await store.events_after(job_id, 0)
        assert await store.update_message_status(f"SM-{job_id}", "delivered", None, iso_utc(NOW)) is None
    gone = await store.resolve_link(old_key[0])
    assert gone.record is None and not gone.revoked  # unknown: the page answers 410
    search = JobSearch(exact="REF-OLD", pattern="old", phone="+13125550101", digits="5550101")
    assert await store.search_jobs(search, limit=10) == []
    assert await store.search_jobs(JobSearch(exact="OLD-SHARED"), limit=10) == []
    assert [r.job.id for r in await store.jobs_by_phone("+13125550102", 10)] == ["OPEN"]
    assert await store.get_conversation("+13125550101") is None
    assert await store.get_conversation("+13125550102") is not None  # the open job's number
    assert [e.job_id for e in await store.list_audit(limit=10, job_id="OLD")] == ["OLD"]  # the audit log stays


async def test_recent_and_open_jobs_are_kept_whole(store: Store, jobs: dict[str, list[str]]) -> None:
    await store.purge_closed_jobs(CUTOFF, 10)
    for job_id in ("OPEN", "RECENT"):
        record = await store.get_job(job_id)
        assert record is not None
        assert (await store.resolve_link(record.link_key)).record is not None
        assert len(await store.list_messages(job_id)) == 2
        assert [row.state for row in await store.list_outbox(job_id)] == ["done"]
        assert [e.type for e in await store.events_after(job_id, 0) or []] == ["status"]
        assert [r.job.id for r in await store.search_jobs(JobSearch(exact=f"REF-{job_id}"), limit=10)] == [job_id]
    assert await store.purge_closed_jobs(CUTOFF, 10) == 0


async def test_purging_goes_in_batches(store: Store, jobs: dict[str, list[str]]) -> None:
    batches: list[tuple[int, int]] = []
    purged = await purge_closed(store, CUTOFF, batch=1, progress=lambda n, count: batches.append((n, count)))
    assert purged == 2 and batches == [(1, 1), (2, 1)]
    later = iso_utc(NOW)  # a cutoff after the recent job closed takes it too, never the open one
    assert await purge_closed(store, later) == 1
    assert await store.get_job("OPEN") is not None


async def test_a_reopened_job_is_kept(store: Store) -> None:
    await add_job(store, "OLD", "completed", LONG_AGO)
    reopen = FieldEvent(
        "w-reopen", "job.status_changed", LONG_AGO + dt.timedelta(days=1), {"job_id": "OLD", "status": "scheduled"}
    )
    await store.change_job("OLD", lambda before: Decision(apply_event(before, reopen)))
    assert await store.purge_closed_jobs(CUTOFF, 10) == 0
    assert await store.get_job("OLD") is not None


# -- nothing left behind, checked on each backend's own terms ------------------------------

# Traces of the purged jobs: their ids (in keys and rows), the phone only they had, an email.
TRACES = ("OLD", "+13125550101", "old@example.com")
# What may still name a purged job: the audit log and the remembered webhook ids (w-OLD).
KEPT_TABLES = {"staff_audit", "webhook_ids"}
KEPT_KEYS = ("audit", "webhook")


def traces_in(text: str) -> list[str]:
    return [trace for trace in TRACES if trace in text]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_sqlite_keeps_no_row_of_a_purged_job(store: SQLiteStore, jobs: dict[str, list[str]]) -> None:
    assert await store.purge_closed_jobs(CUTOFF, 10) == 2
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        left = {
            table: [row for row in conn.execute(f"SELECT * FROM {table}") if traces_in(repr(row))]
            for table in tables
            if table not in KEPT_TABLES
        }
    assert {table: rows for table, rows in left.items() if rows} == {}


def redis_content(client: redis.Redis, key: str) -> str:
    kind = client.type(key)
    if kind == "hash":
        return repr(client.hgetall(key))
    if kind == "string":
        return repr(client.get(key))
    if kind == "set":
        return repr(client.smembers(key))
    if kind == "zset":
        return repr(client.zrange(key, 0, -1))
    if kind == "list":
        return repr(client.lrange(key, 0, -1))
    return repr(client.xrange(key))


@pytest.mark.parametrize("store", ["redis"], indirect=True)
async def test_redis_keeps_no_key_of_a_purged_job(store: RedisStore, jobs: dict[str, list[str]]) -> None:
    assert await store.purge_closed_jobs(CUTOFF, 10) == 2
    client = redis.Redis.from_url(store.url, decode_responses=True)
    left: dict[str, list[str]] = {}
    try:
        for key in client.scan_iter(match=f"{store.keys.prefix}*"):
            name = key.removeprefix(store.keys.prefix)
            found = [] if name.startswith(KEPT_KEYS) else traces_in(name + redis_content(client, key))
            if found:
                left[name] = found
    finally:
        client.close()
    assert left == {}
