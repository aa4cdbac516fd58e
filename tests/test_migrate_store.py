"""``portal migrate-store``: SQLite to Redis and back, nothing lost; ``serve --workers`` on each."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import httpx

from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.settings import Settings
from portal.store import open_store
from portal.store.base import AuditEntry, Decision, JobSearch, Message, OutboxItem, Rejection, Settlement, Store
from tests.helpers import SECRET_KEY, job_updated, post_event, sample_job
from tests.processes import PortalProcess, portal_env
from tests.test_cli import PORTAL

NOW = dt.datetime.now(dt.UTC)
JOBS = ["WO-1", "WO-2", "WO-3"]


def at(seconds: int) -> str:
    return iso_utc(NOW + dt.timedelta(seconds=seconds))


async def fill(store: Store) -> None:
    for n, job_id in enumerate(JOBS):
        job = sample_job(job_id, customer={"name": f"Customer {n}", "phone": f"(312) 555-01{n:02d}", "email": "a@b.co"})
        event = FieldEvent(f"w-{job_id}", "job.updated", NOW, {"job": job})
        item = OutboxItem(f"{job_id}:booked:sms", "sms", job_id, {"message": "booking_confirmed"}, at(-5))

        def decide(before: Job | None, event: FieldEvent = event, item: OutboxItem = item) -> Decision:
            return Decision(apply_event(before, event), [("job", {"n": 1}), ("status", {"n": 2})], [item])

        await store.change_job(job_id, decide, webhook_id=f"w-{job_id}")
    await store.rotate_link_key("WO-1")
    (row, *_) = await store.claim_outbox(("sms",), at(0), at(30), 10)
    message = Message(
        0, row.job_id, "sms", "out", "+13125550100", None, "Booked", "queued", None, None, {}, at(0), at(0)
    )
    message_id = await store.begin_message(row.id, message)
    await store.settle_outbox(
        Settlement(row.id, "done", message_id=message_id, message_status="sent", provider_id="SM1"), at(1)
    )
    await store.add_message(
        Message(
            0, "WO-2", "sms", "in", None, "+13125550101", "R", "received", None, None, {"intent": "r"}, at(2), at(2)
        )
    )
    await store.record_rejection(Rejection(at(3), 400, "invalid_payload", "w-bad", "data.job: required", "{}"))
    await store.save_staff_account("dana", "hash", "America/Chicago")
    await store.add_audit(AuditEntry(at(4), "dana", "view_job", "WO-1", "127.0.0.1", "page"))
    await store.set_opt_out("+13125550102", True, "keyword", at(5))


async def everything(store: Store) -> dict[str, Any]:
    """What the portal can read back through the protocol."""
    seen: dict[str, Any] = {}
    for job_id in JOBS:
        record = await store.get_job(job_id)
        assert record is not None
        seen[job_id] = {
            "record": record,
            "events": await store.events_after(job_id, 0),
            "links": await store.link_history(job_id),
            "link": (await store.resolve_link(record.link_key)).record,
            "messages": await store.list_messages(job_id),
            "outbox": await store.list_outbox(job_id),
        }
    seen["rejections"] = await store.list_rejections()
    seen["staff"] = await store.get_staff_account("dana")
    seen["audit"] = await store.list_audit(limit=10)
    seen["opted_out"] = await store.is_opted_out("+13125550102")
    seen["search"] = [r.job.id for r in await store.search_jobs(JobSearch("customer 1", pattern="customer 1"), limit=5)]
    seen["due"] = await store.next_outbox_due(("sms",))
    return seen


async def on_store(url: str, work: Any) -> Any:
    from dataclasses import replace

    store = open_store(replace(Settings(), store_url=url))
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


def migrate(tmp_path: Path, source: str, target: str) -> subprocess.CompletedProcess[str]:
    command = [PORTAL, "migrate-store", "--from", source, "--to", target]
    return subprocess.run(command, cwd=tmp_path, env=portal_env(tmp_path), capture_output=True, text=True, timeout=60)


def test_sqlite_to_redis_and_back_keeps_everything(tmp_path: Path, redis_url: str) -> None:
    first, back = f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'back.db'}"
    asyncio.run(on_store(first, fill))
    original = asyncio.run(on_store(first, everything))
    there = migrate(tmp_path, first, redis_url)
    assert there.returncode == 0, there.stderr
    assert "jobs: 3 copied" in there.stderr and "messages: 2 copied" in there.stderr
    assert asyncio.run(on_store(redis_url, everything)) == original
    home = migrate(tmp_path, redis_url, back)
    assert home.returncode == 0, home.stderr
    assert asyncio.run(on_store(back, everything)) == original

    async def webhook_ids_still_remembered(store: Store) -> bool:
        result = await store.change_job("WO-1", lambda job: Decision(job or Job("WO-1")), webhook_id="w-WO-1")
        return result.duplicate

    assert asyncio.run(on_store(redis_url, webhook_ids_still_remembered))
    assert asyncio.run(on_store(back, webhook_ids_still_remembered))


def test_a_store_with_data_is_not_a_target(tmp_path: Path) -> None:
    first, second = f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'second.db'}"
    asyncio.run(on_store(first, fill))
    asyncio.run(on_store(second, fill))
    refused = migrate(tmp_path, first, second)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith("portal: configuration error: --to: the target store")
    assert migrate(tmp_path, first, "mysql://x").returncode == 2


def test_serve_workers_is_refused_on_sqlite_in_one_line(tmp_path: Path) -> None:
    env = portal_env(tmp_path, PORTAL_SECRET_KEY=SECRET_KEY)
    refused = subprocess.run(
        [PORTAL, "serve", "--workers", "2"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "portal: configuration error: --workers above 1 needs PORTAL_STORE=redis://...: one SQLite file serves one"
        " process"
    ]


def test_serve_workers_runs_several_processes_on_redis(tmp_path: Path, redis_url: str) -> None:
    env = portal_env(tmp_path, PORTAL_STORE=redis_url, PORTAL_SECRET_KEY=SECRET_KEY)
    server = PortalProcess([PORTAL], tmp_path, env)
    server.command += ["--workers", "2"]
    with server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert post_event(http, job_updated(sample_job())).status_code == 202
        assert http.get("/readyz").status_code == 200
    assert "2 worker processes" in server.log.read_text()
