"""``portal migrate-store``: SQLite to Redis and back, nothing lost; ``serve --workers`` on each."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import pty
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.core.tallies import bucket_of
from portal.settings import Settings
from portal.store import open_store
from portal.store.base import AuditEntry, Decision, JobSearch, Message, OutboxItem, Rejection, Settlement, Store
from portal.store.exchange import KINDS
from portal.store.transfer.progress import BAR_WIDTH, Progress
from tests.helpers import SECRET_KEY, job_updated, post_event, sample_job
from tests.processes import PORTAL, PortalProcess, portal_env

NOW = dt.datetime.now(dt.UTC)
JOBS = ["WO-1", "WO-2", "WO-3"]
PHONES = ["+13125550100", "+13125550101", "+13125550102"]
# Outbox rows of every state: how each email row of WO-3 is settled after its one claim.
EMAIL_OUTCOMES = {
    "done": Settlement(0, "done"),
    "failed": Settlement(0, "failed", error="550 no such mailbox"),
    "dead": Settlement(0, "dead", error="gave up after 8 attempts"),
    "skipped": Settlement(0, "skipped", error="opted out"),
    "retry": Settlement(0, "pending", next_attempt_at=iso_utc(NOW + dt.timedelta(minutes=10)), error="timeout"),
}


def at(seconds: int) -> str:
    return iso_utc(NOW + dt.timedelta(seconds=seconds))


def queued(job_id: str, event: FieldEvent, items: list[OutboxItem]) -> Any:
    def decide(before: Job | None) -> Decision:
        return Decision(apply_event(before, event), [("job", {"n": 1}), ("status", {"n": 2})], items)

    return decide


async def fill(store: Store) -> str:
    """Every kind of record the store keeps; returns the link key WO-1 had before it was revoked."""
    for n, job_id in enumerate(JOBS):
        job = sample_job(job_id, customer={"name": f"Customer {n}", "phone": f"(312) 555-01{n:02d}", "email": "a@b.co"})
        event = FieldEvent(f"w-{job_id}", "job.updated", NOW - dt.timedelta(days=3), {"job": job})
        item = OutboxItem(f"{job_id}:booked:sms", "sms", job_id, {"message": "booking_confirmed"}, at(-5))
        await store.change_job(job_id, queued(job_id, event, [item]), webhook_id=f"w-{job_id}")
    first = await store.get_job("WO-1")
    assert first is not None
    await store.rotate_link_key("WO-1")
    (row, *_) = await store.claim_outbox(("sms",), at(0), at(30), 10)  # the other two stay leased
    message = Message(
        0, row.job_id, "sms", "out", "+13125550100", None, "Booked", "queued", None, None, {}, at(0), at(0)
    )
    message_id = await store.begin_message(row.id, message)
    await store.settle_outbox(
        Settlement(row.id, "done", message_id=message_id, message_status="sent", provider_id="SM1"), at(1)
    )
    # WO-3 closes two days ago, with emails settled every way, a callback not due for an hour.
    closing = FieldEvent("w-close", "job.status_changed", NOW - dt.timedelta(days=2), {"status": "completed"})
    closing = FieldEvent("w-close", "job.status_changed", closing.occurred_at, {"job_id": "WO-3", **closing.data})
    emails = [OutboxItem(f"WO-3:{name}:email", "email", "WO-3", {"n": name}, at(-3)) for name in EMAIL_OUTCOMES]
    later = OutboxItem("WO-3:completed:callback", "callback", "WO-3", {"type": "job.completed"}, at(3600))
    await store.change_job("WO-3", queued("WO-3", closing, [*emails, later]), webhook_id="w-close")
    claimed = {r.dedup_key.split(":")[1]: r for r in await store.claim_outbox(("email",), at(0), at(30), 10)}
    for name, outcome in EMAIL_OUTCOMES.items():
        await store.settle_outbox(replace(outcome, outbox_id=claimed[name].id), at(2))
    await store.add_message(
        Message(
            0, "WO-2", "sms", "in", None, "+13125550101", "R", "received", None, None, {"intent": "r"}, at(2), at(2)
        )
    )
    await store.record_rejection(Rejection(at(3), 400, "invalid_payload", "w-bad", "data.job: required", "{}"))
    await store.record_rejection(Rejection(at(4), 401, "bad_signature", None, None, None))
    await store.save_staff_account("dana", "hash", "America/Chicago")
    await store.save_staff_account("lee", "hash2")
    await store.open_staff_session("session-hash", "dana")
    await store.add_audit(AuditEntry(at(4), "dana", "view_job", "WO-1", "127.0.0.1", "page"))
    await store.add_audit(AuditEntry(at(5), "lee", "sign_in", None, "127.0.0.1", None))
    await store.set_opt_out("+13125550102", True, "keyword", at(5))
    await store.set_conversation(PHONES[1], {"asked": "reschedule", "job_id": "WO-2", "slots": [1, 2]}, at(6))
    await store.set_conversation(PHONES[2], {"asked": "rating", "job_id": "WO-3"}, at(6))
    # The staff's queue: a low rating due now, a reschedule request due in an hour, a message
    # not understood that staff already acknowledged (gone, and staying gone after the copy).
    await store.change_job("WO-2", edited({"portal.rating": {"score": 1, "at": at(-60), "channel": "sms"}}))
    await store.change_job("WO-1", edited({"portal.reschedule": {"requested_at": at(0)}}))
    text = OutboxItem("WO-3:text:callback", "callback", "WO-3", {"type": "customer.message", "data": {"text": "?"}})
    await store.change_job("WO-3", lambda job: Decision(job or Job("WO-3"), outbox=[text]))
    # The message's reason is stamped by the real clock, which may be well past NOW in a long run.
    now = iso_utc(dt.datetime.now(dt.UTC))
    await store.acknowledge("WO-3", now, AuditEntry(at(7), "dana", "acknowledge", "WO-3", "127.0.0.1", None))
    return first.link_key


def edited(values: dict[str, Any]) -> Any:
    def decide(before: Job | None) -> Decision:
        after = (before or Job("?")).copy()
        after.values.update(values)
        return Decision(after)

    return decide


# One span of the statistics reaching from before the first job to after the last write.
SPAN = [bucket_of(NOW - dt.timedelta(days=4)), bucket_of(NOW + dt.timedelta(days=1))]


async def everything(store: Store, revoked_key: str) -> dict[str, Any]:
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
            "audit": await store.list_audit(limit=10, job_id=job_id),
        }
    seen["revoked"] = await store.resolve_link(revoked_key)
    seen["rejections"] = await store.list_rejections()
    seen["staff"] = [await store.get_staff_account(name) for name in ("dana", "lee", "nobody")]
    seen["audit"] = await store.list_audit(limit=10)
    seen["audit_lee"] = await store.list_audit(limit=10, username="lee")
    seen["opted_out"] = [await store.is_opted_out(phone) for phone in PHONES]
    seen["conversations"] = [await store.get_conversation(phone) for phone in PHONES]
    seen["by_phone"] = [[r.job.id for r in await store.jobs_by_phone(phone, 5)] for phone in PHONES]
    seen["search"] = [r.job.id for r in await store.search_jobs(JobSearch("customer 1", pattern="customer 1"), limit=5)]
    seen["search_digits"] = [r.job.id for r in await store.search_jobs(JobSearch("0102", digits="0102"), limit=5)]
    seen["due"] = {kind: await store.next_outbox_due((kind,)) for kind in ("sms", "email", "callback")}
    seen["counts"] = await store.outbox_counts()
    seen["depth"] = await store.outbox_depth()
    seen["attention_now"] = await store.attention(at(60))
    seen["attention_later"] = await store.attention(at(3700))
    seen["next_attention"] = await store.next_attention_due(at(60))
    seen["tallies"] = sorted(await store.tallies(SPAN))
    return seen


async def still_works(store: Store) -> dict[str, Any]:
    """The copy behaves: leased rows fall due after their lease, the delayed one when due, a purge."""
    did: dict[str, Any] = {}
    sms = await store.claim_outbox(("sms",), at(60), at(90), 10)
    did["sms"] = [(r.dedup_key, r.attempts) for r in sms]
    emails = await store.claim_outbox(("email",), at(60), at(90), 10)
    did["email_early"] = [r.dedup_key for r in emails]
    emails = await store.claim_outbox(("email",), at(700), at(730), 10)
    did["email"] = [(r.dedup_key, r.attempts, r.last_error) for r in emails]
    did["callback"] = [r.dedup_key for r in await store.claim_outbox(("callback",), at(3601), at(3630), 10)]
    did["purged"] = await store.purge_closed_jobs(at(-3600), 10)
    did["after_purge"] = [await store.get_job(job_id) is not None for job_id in JOBS]
    did["search"] = [r.job.id for r in await store.search_jobs(JobSearch("a@b.co", pattern="a@b.co"), limit=5)]
    did["conversations"] = [await store.get_conversation(phone) is not None for phone in PHONES]
    did["depth"] = await store.outbox_depth()
    entry = AuditEntry(at(3700), "lee", "acknowledge", "WO-1", "127.0.0.1", None)
    did["acknowledged"] = [await store.acknowledge(job_id, at(3700), entry) for job_id in ("WO-1", "WO-2")]
    did["attention_after"] = (await store.attention(at(3700)))[1]
    return did


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
    revoked_key = asyncio.run(on_store(first, fill))
    original = asyncio.run(on_store(first, lambda store: everything(store, revoked_key)))
    assert original["revoked"].revoked and original["conversations"][0] is None
    # What the queue and the statistics hold before the copy, so the comparison below means something.
    assert [(i.job_id, i.reasons) for i in original["attention_now"][0]] == [("WO-2", ("low_rating",))]
    assert [(i.job_id, i.reasons) for i in original["attention_later"][0]] == [
        ("WO-1", ("reschedule_pending",)),
        ("WO-2", ("low_rating",)),
    ]
    assert original["next_attention"] == at(3600)
    counted = {name: amount for _, name, amount in original["tallies"]}
    assert counted["jobs"] == 3 and counted["completed"] == 1 and counted["reschedules"] == 1
    assert counted["rating.1"] == 1 and counted["sms.sent"] == 1
    there = migrate(tmp_path, first, redis_url)
    assert there.returncode == 0, there.stderr
    assert "jobs: 3 copied" in there.stderr and "messages: 2 copied" in there.stderr
    assert "outbox: 10 copied" in there.stderr and "conversations: 2 copied" in there.stderr
    assert "attention: 2 copied" in there.stderr and f"tallies: {len(original['tallies'])} copied" in there.stderr
    assert asyncio.run(on_store(redis_url, lambda store: everything(store, revoked_key))) == original
    home = migrate(tmp_path, redis_url, back)
    assert home.returncode == 0, home.stderr
    assert asyncio.run(on_store(back, lambda store: everything(store, revoked_key))) == original

    async def webhook_ids_still_remembered(store: Store) -> bool:
        result = await store.change_job("WO-1", lambda job: Decision(job or Job("WO-1")), webhook_id="w-WO-1")
        return result.duplicate

    assert asyncio.run(on_store(redis_url, webhook_ids_still_remembered))
    assert asyncio.run(on_store(back, webhook_ids_still_remembered))

    async def signed_out(store: Store) -> bool:
        return await store.staff_session_account("session-hash") is None

    assert asyncio.run(on_store(redis_url, signed_out)) and asyncio.run(on_store(back, signed_out))
    behaved = [asyncio.run(on_store(url, still_works)) for url in (first, redis_url, back)]
    assert behaved[0] == behaved[1] == behaved[2]
    assert behaved[0] == {
        "sms": [("WO-2:booked:sms", 2), ("WO-3:booked:sms", 2)],
        "email_early": [],
        "email": [("WO-3:retry:email", 2, "timeout")],
        "callback": ["WO-3:completed:callback", "WO-3:text:callback"],
        "purged": 1,
        "after_purge": [True, True, False],
        "search": ["WO-1", "WO-2"],  # WO-1 changed last (its reschedule request)
        "conversations": [False, True, False],
        "depth": 1,  # WO-2's leased SMS: the purge took every row of WO-3
        "acknowledged": [["reschedule_pending"], ["low_rating"]],
        "attention_after": 0,
    }


def test_a_store_with_data_is_not_a_target(tmp_path: Path) -> None:
    first, second = f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'second.db'}"
    asyncio.run(on_store(first, fill))
    asyncio.run(on_store(second, fill))
    refused = migrate(tmp_path, first, second)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith("portal: configuration error: --to: the target store")
    assert migrate(tmp_path, first, "mysql://x").returncode == 2


def test_a_store_holding_only_accounts_or_conversations_is_not_a_target(tmp_path: Path, redis_url: str) -> None:
    first, second = f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'second.db'}"
    asyncio.run(on_store(first, fill))

    async def only_an_account(store: Store) -> None:
        await store.save_staff_account("dana", "hash")

    async def only_a_conversation(store: Store) -> None:
        await store.set_conversation(PHONES[0], {"asked": "reschedule"}, at(0))

    asyncio.run(on_store(redis_url, only_an_account))
    asyncio.run(on_store(second, only_a_conversation))
    for target in (redis_url, second):
        refused = migrate(tmp_path, first, target)
        assert refused.returncode == 2 and "the target store already holds data" in refused.stderr


def test_on_a_terminal_progress_is_one_line_redrawn_in_place(tmp_path: Path) -> None:
    first, second = f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'second.db'}"
    asyncio.run(on_store(first, fill))
    leader, follower = pty.openpty()
    command = [PORTAL, "migrate-store", "--from", first, "--to", second]
    with subprocess.Popen(command, cwd=tmp_path, env=portal_env(tmp_path), stderr=follower) as process:
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is gone: the process closed its end
                break
            if not chunk:
                break
            shown += chunk
        os.close(leader)
        assert process.wait(timeout=60) == 0
    lines = shown.decode().replace("\r\n", "\n").split("\n")
    start = next(n for n, line in enumerate(lines) if line.startswith("portal: copying"))
    # After the header: one line redrawn with \r until the copy ends, then the summary.
    bar, summary = lines[start + 1], lines[start + 2]
    assert bar.startswith("\r[") and bar.count("\r") > len(KINDS) and "copied" not in bar
    final = bar.split("\r")[-1].rstrip()
    assert final.startswith("[" + "#" * BAR_WIDTH + "] 100%") and final.endswith("audit 3/3")
    assert summary.startswith("portal: done, ")


def test_progress_counts_each_kind_against_its_total_and_fits_the_width() -> None:
    progress = Progress(io.StringIO(), live=True)
    progress.start({"jobs": 4, "outbox": 6, "audit": 0})
    progress.done("jobs", 4)
    progress.step("outbox", 1)
    assert progress.line() == "[############------------]  50%  jobs 4/4  outbox 1/6"
    assert progress.line(columns=48) == "[############------------]  50%  ...  outbox 1/6"
    plain = io.StringIO()
    quiet = Progress(plain, live=False)
    quiet.start({"jobs": 1000})
    for n in range(1, 1001):
        quiet.step("jobs", n)
    quiet.done("jobs", 1000)
    quiet.finish()
    assert plain.getvalue() == "  jobs: 500 copied ...\n  jobs: 1000 copied ...\n  jobs: 1000 copied\n"


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


@pytest.mark.long(2)
def test_serve_workers_runs_several_processes_on_redis(tmp_path: Path, redis_url: str) -> None:
    env = portal_env(tmp_path, PORTAL_STORE=redis_url, PORTAL_SECRET_KEY=SECRET_KEY)
    server = PortalProcess([PORTAL], tmp_path, env)
    server.command += ["--workers", "2"]
    with server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert post_event(http, job_updated(sample_job())).status_code == 202
        assert http.get("/readyz").status_code == 200
    assert "2 worker processes" in server.log.read_text()
