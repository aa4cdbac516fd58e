"""Several ``portal`` processes on one Redis, run exactly as an operator would run them."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.runtime import Runtime
from portal.settings import from_env
from portal.store.base import OutboxRow
from portal.store.redis.store import RedisStore
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Reply
from tests.helpers import SECRET_KEY, job_updated, post_event, sample_job, signed_headers, status_changed, wait_until
from tests.processes import PORTAL, PortalProcess, StreamReader, redis_env, tracking_path
from tests.redis_support import PrivateRedis, restart_keeping_data

WAIT = 60.0  # deadline for conditions that normally hold within a second or two
SMS_ONLY = {"name": "Maria Lopez", "locale": "en", "channels": ["sms"]}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path).start()
    yield server
    server.stop()


def post_until_stored(url: str, payload: dict[str, Any]) -> httpx.Response:
    """Post like a field system does: again on 503 until the portal stores it."""

    def attempt() -> httpx.Response | None:
        try:
            with httpx.Client(base_url=url, timeout=10) as http:
                response = post_event(http, payload)
        except httpx.TransportError:
            return None
        return response if response.status_code != 503 else None

    return wait_until(attempt, "the webhook to be stored")


@pytest.mark.long(2)
def test_a_webhook_to_one_process_reaches_a_stream_on_another(tmp_path: Path, redis_url: str) -> None:
    env = redis_env(tmp_path, redis_url)
    with (
        PortalProcess([PORTAL], tmp_path, env) as one,
        PortalProcess([PORTAL], tmp_path, env) as other,
        httpx.Client(base_url=one.url, timeout=10) as http,
    ):
        assert post_event(http, job_updated(sample_job())).status_code == 202
        reader = StreamReader(other.url + tracking_path(tmp_path, env) + "/events")
        try:
            assert reader.next().event == "snapshot"
            assert post_event(http, status_changed("WO-1", "en_route")).status_code == 202
            seen = reader.until("status", lambda data: data.get("status") == "en_route")
            assert all(int(a.id) < int(b.id) for a, b in itertools.pairwise(seen))
        finally:
            reader.close()


@pytest.mark.long(2)
def test_a_webhook_id_is_taken_once_across_processes(tmp_path: Path, redis_url: str) -> None:
    env = redis_env(tmp_path, redis_url)
    body = json.dumps(job_updated(sample_job()))
    headers = signed_headers(body, msg_id="msg_shared")
    with PortalProcess([PORTAL], tmp_path, env) as one, PortalProcess([PORTAL], tmp_path, env) as other:
        answers = [httpx.post(p.url + "/webhooks/field", content=body, headers=headers) for p in (one, other, one)]
    assert [a.status_code for a in answers] == [202, 200, 200]
    assert answers[1].json() == {"status": "duplicate"}


@pytest.mark.long(7)
def test_streams_resume_without_a_gap_after_redis_restarts(tmp_path: Path, private_redis: PrivateRedis) -> None:
    env = redis_env(tmp_path, private_redis.url())
    with PortalProcess([PORTAL], tmp_path, env) as one, PortalProcess([PORTAL], tmp_path, env) as other:
        assert post_until_stored(one.url, job_updated(sample_job())).status_code == 202
        reader = StreamReader(other.url + tracking_path(tmp_path, env) + "/events")
        try:
            assert reader.next().event == "snapshot"
            restart_keeping_data(private_redis)
            # Posted as soon as Redis answers: the other process's pub/sub may not be back
            # yet, and then the event reaches its stream from the stored log instead.
            assert post_until_stored(one.url, status_changed("WO-1", "en_route")).status_code == 202
            reader.until("status", lambda data: data.get("status") == "en_route")
            assert post_until_stored(one.url, status_changed("WO-1", "in_progress")).status_code == 202
            reader.until("status", lambda data: data.get("status") == "in_progress")
        finally:
            reader.close()


@pytest.mark.long(5)
def test_readiness_and_webhooks_answer_503_while_redis_is_down(tmp_path: Path, private_redis: PrivateRedis) -> None:
    env = redis_env(tmp_path, private_redis.url())
    with PortalProcess([PORTAL], tmp_path, env) as one, httpx.Client(base_url=one.url, timeout=15) as http:
        assert http.get("/readyz").status_code == 200
        private_redis.stop()
        wait_until(lambda: http.get("/readyz").status_code == 503, "/readyz to see the outage")  # probed every 2 s
        refused = post_event(http, job_updated(sample_job()))
        assert refused.status_code == 503 and refused.headers["retry-after"]
        assert http.get("/healthz").status_code == 200
        private_redis.start()
        wait_until(lambda: http.get("/readyz").status_code == 200, "/readyz to answer 200 again")
        assert post_event(http, job_updated(sample_job())).status_code == 202


# -- the outbox shared by a pool of processes ---------------------------------------------


def twilio_env(twilio: FakeTwilio) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": "+15005550006",
        "TWILIO_API_URL": twilio.url,
        "PORTAL_PUBLIC_URL": "https://portal.example.com",
        "PORTAL_WORKER_LEASE_SECONDS": "3",  # the shortest allowed: a dead worker's rows return soon
    }


def start_worker(tmp_path: Path, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{name}.log").open("ab")
    try:
        return subprocess.Popen([PORTAL, "worker"], cwd=tmp_path, env=env, stdout=log, stderr=log)
    finally:
        log.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def booking_rows(store_url: str, job_ids: list[str]) -> list[OutboxRow]:
    async def read() -> list[OutboxRow]:
        store = RedisStore(store_url)
        await store.open()
        try:
            rows = [row for job_id in job_ids for row in await store.list_outbox(job_id)]
        finally:
            await store.close()
        return [row for row in rows if row.payload.get("message") == "booking_confirmed"]

    return asyncio.run(read())


def all_done(store_url: str, job_ids: list[str]) -> list[OutboxRow] | None:
    rows = booking_rows(store_url, job_ids)
    return rows if len(rows) == len(job_ids) and all(r.state == "done" for r in rows) else None


def sms_job(n: int) -> dict[str, Any]:
    return sample_job(f"WO-{n}", customer={**SMS_ONLY, "phone": f"(312) 555-01{n:02d}"})


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.mark.long(3)
def test_a_pool_of_processes_sends_each_message_once(tmp_path: Path, redis_url: str, twilio: FakeTwilio) -> None:
    env = redis_env(tmp_path, redis_url, **twilio_env(twilio))
    jobs = list(range(12))
    worker = start_worker(tmp_path, env, "worker")
    try:
        with PortalProcess([PORTAL], tmp_path, env) as one, PortalProcess([PORTAL], tmp_path, env) as other:
            for n in jobs:
                with httpx.Client(base_url=(one, other)[n % 2].url) as http:
                    assert post_event(http, job_updated(sms_job(n))).status_code == 202
            wait_until(lambda: all_done(redis_url, [f"WO-{n}" for n in jobs]), "every booking message to be sent")
    finally:
        stop(worker)
    sent = sorted(m.to for m in twilio.messages())
    assert sent == sorted(f"+1312555{100 + n:04d}" for n in jobs)


async def _accept(store_url: str, payload: dict[str, Any]) -> None:
    """Take a webhook in this test process, with no worker of its own."""
    env = {"PORTAL_STORE": store_url, "PORTAL_SECRET_KEY": SECRET_KEY, "PORTAL_QUIET_HOURS": ""}
    portal = Runtime(from_env(env), run_worker=False)
    await portal.store.open()
    try:
        event = portal.intake.parser.parse(json.dumps(payload).encode(), "msg_kill_test")
        await portal.changes.accept_field_event(event)
    finally:
        await portal.store.close()


@pytest.mark.long(4)
def test_a_worker_killed_mid_send_loses_nothing(tmp_path: Path, redis_url: str, twilio: FakeTwilio) -> None:
    env = redis_env(tmp_path, redis_url, **twilio_env(twilio))
    twilio.script(Reply(delay=WAIT))  # the first send hangs until its worker is killed
    first = start_worker(tmp_path, env, "worker-1")
    second: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(_accept(redis_url, job_updated(sms_job(1))))
        wait_until(lambda: twilio.messages(), "the first worker to start sending")
        first.kill()
        first.wait(10)
        second = start_worker(tmp_path, env, "worker-2")
        (row,) = wait_until(lambda: all_done(redis_url, ["WO-1"]), "another worker to take the message over")
    finally:
        stop(first)
        if second is not None:
            stop(second)
    attempts = twilio.messages()
    assert [m.to for m in attempts] == ["+13125550101", "+13125550101"]  # the one in flight, then the retry
    assert not attempts[0].answered and attempts[1].answered
    assert row.attempts == 2
