"""What only the Redis store has to prove: many processes at once, and Redis going away."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import OutOfMemoryError, ResponseError

from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.settings import ConfigError
from portal.store.base import Decision, OutboxItem, StoreUnavailable
from portal.store.redis.keys import split_url
from portal.store.redis.store import RedisStore
from portal.store.redis.throttle import RedisThrottle
from tests.helpers import free_port, wait_until
from tests.redis_support import PrivateRedis

pytestmark = pytest.mark.anyio
NOW = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)
PROCESSES = 4  # stores standing in for processes: each has its own connection pool


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def stores(redis_url: str) -> AsyncIterator[list[RedisStore]]:
    opened = [RedisStore(redis_url) for _ in range(PROCESSES)]
    for store in opened:
        await store.open()
    yield opened
    for store in opened:
        await store.close()


def decide_status(n: int, outbox: list[OutboxItem] | None = None) -> Any:
    event = FieldEvent(
        f"w{n}", "job.status_changed", NOW + dt.timedelta(seconds=n), {"job_id": "J1", "status": "en_route"}
    )

    def decide(before: Job | None) -> Decision:
        return Decision(apply_event(before, event), [("job", {"n": n})], outbox or [])

    return decide


async def test_concurrent_changes_from_many_processes_keep_one_gapless_sequence(stores: list[RedisStore]) -> None:
    changes = [stores[n % PROCESSES].change_job("J1", decide_status(n)) for n in range(40)]
    results = await asyncio.gather(*changes)
    seqs = sorted(e.seq for r in results for e in r.events)
    assert seqs == list(range(1, 41))
    record = await stores[0].get_job("J1")
    assert record is not None and record.last_seq == 40
    assert len(record.job.observations) == 40  # no change was lost to a race
    log = await stores[1].events_after("J1", 0)
    assert log is not None and sorted(e.data["n"] for e in log) == list(range(40))


async def test_one_webhook_id_is_taken_once_across_processes(stores: list[RedisStore]) -> None:
    item = OutboxItem("J1:en_route:sms", "sms", "J1", {"to": "+13125550142"})
    changes = [s.change_job("J1", decide_status(1, [item]), webhook_id="same") for s in stores for _ in range(5)]
    results = await asyncio.gather(*changes)
    assert sum(not r.duplicate for r in results) == 1
    assert await stores[0].outbox_depth() == 1


def interrupted(redis_url: str, decide: Any, meanwhile: Any) -> tuple[Any, list[int]]:
    """``decide``, but the first time it runs another process stores ``meanwhile`` to the same job.

    That is the race the write's check exists for: the other change lands after this one
    read the job and before it writes. Returns the wrapped function and the number of
    observations each call saw.
    """
    seen: list[int] = []

    async def other_process() -> None:
        store = RedisStore(redis_url)
        await store.open()
        try:
            await store.change_job("J1", meanwhile)
        finally:
            await store.close()

    def wrapped(before: Job | None) -> Decision:
        seen.append(len(before.observations) if before else 0)
        if len(seen) == 1:
            with ThreadPoolExecutor(1) as thread:  # its own event loop, run to the end right now
                thread.submit(asyncio.run, other_process()).result()
        return decide(before)

    return wrapped, seen


async def test_a_change_stored_between_read_and_write_is_kept_and_this_one_decides_again(
    stores: list[RedisStore], redis_url: str
) -> None:
    await stores[0].change_job("J1", decide_status(0))
    decide, seen = interrupted(redis_url, decide_status(2), decide_status(1))
    result = await stores[0].change_job("J1", decide)
    assert seen == [1, 2]  # decided on the job as read, then again on the job as the other left it
    record = await stores[0].get_job("J1")
    assert record is not None and len(record.job.observations) == 3
    assert [e.seq for e in result.events] == [3] and record.last_seq == 3


async def test_a_message_queued_by_another_process_meanwhile_is_not_queued_twice(
    stores: list[RedisStore], redis_url: str
) -> None:
    item = OutboxItem("J1:en_route:sms", "sms", "J1", {"to": "+13125550142"})
    decide, seen = interrupted(redis_url, decide_status(2, [item]), decide_status(1, [item]))
    result = await stores[0].change_job("J1", decide)
    assert len(seen) == 2 and result.queued == 0  # its dedup key was taken after it was read
    assert await stores[0].outbox_depth() == 1


async def test_each_due_row_is_claimed_by_one_process(stores: list[RedisStore]) -> None:
    items = [OutboxItem(f"k{n}", "sms", "J1", {"n": n}) for n in range(60)]
    await stores[0].change_job("J1", decide_status(0, items))
    now, lease = iso_utc(dt.datetime.now(dt.UTC)), iso_utc(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    claims = [s.claim_outbox(("sms",), now, lease, 7) for s in stores for _ in range(5)]
    claimed = [row.dedup_key for rows in await asyncio.gather(*claims) for row in rows]
    assert sorted(claimed) == sorted(i.dedup_key for i in items)


async def test_an_expired_event_log_asks_for_a_snapshot(redis_url: str) -> None:
    store = RedisStore(redis_url)
    await store.open()
    try:
        await store.change_job("J1", decide_status(1))
        await store.redis.delete(store.keys.events("J1"))  # as if its TTL ran out
        assert await store.events_after("J1", 0) is None
        assert await store.events_after("J1", 1) == []
    finally:
        await store.close()


async def test_an_unreachable_redis_is_store_unavailable() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    await store.open()
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.change_job("J1", decide_status(1), webhook_id="w1")
        with pytest.raises(StoreUnavailable):
            await store.get_job("J1")
    finally:
        await store.close()


async def test_the_store_recovers_by_itself_when_redis_returns(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path).start()
    store = RedisStore(server.url())
    await store.open()
    try:
        await store.change_job("J1", decide_status(1))
        server.stop()
        with pytest.raises(StoreUnavailable):
            await store.get_job("J1")
        server.start()
        await store.ping()  # the same pool, no restart of the portal
        await store.change_job("J1", decide_status(2))
    finally:
        await store.close()
        server.stop()


def test_the_url_names_the_key_prefix() -> None:
    assert split_url("redis://h:1/2?prefix=acme:") == ("redis://h:1/2", "acme:")
    assert split_url("redis://h:1/2?socket_timeout=3") == ("redis://h:1/2?socket_timeout=3", "portal:")
    with pytest.raises(ConfigError, match="PORTAL_STORE"):
        split_url("redis://h:1/2?prefix=a%20b")


async def test_a_change_redis_refuses_part_of_leaves_its_webhook_id_free_for_the_retry(
    stores: list[RedisStore],
) -> None:
    """The script stops at a command Redis refuses; the webhook id is claimed last, so the
    sender's retry is processed, not taken for a duplicate of a change never fully written."""
    store = stores[0]
    await store.change_job("J1", decide_status(1))
    events = store.keys.events("J1")
    await store.redis.xadd(events, {"type": "x", "data": "{}"}, id="100-0")  # the next event's id is refused
    with pytest.raises(ResponseError):
        await store.change_job("J1", decide_status(2), webhook_id="w2")
    assert not await store.redis.exists(store.keys.webhook("w2"))
    await store.redis.delete(events)
    again = await store.change_job("J1", decide_status(2), webhook_id="w2")
    assert not again.duplicate and again.events


async def test_a_full_redis_is_store_unavailable_and_changes_nothing(tmp_path: Path) -> None:
    """With ``noeviction`` (docs/deployment.md) a full Redis refuses writes: the caller gets
    StoreUnavailable (a webhook answers 503 and is sent again), never an unexpected error."""
    server = PrivateRedis(tmp_path).start()
    store = RedisStore(server.url())
    await store.open()
    try:
        await store.change_job("J1", decide_status(1))
        await store.redis.config_set("maxmemory-policy", "noeviction")
        used = int((await store.redis.info("memory"))["used_memory"])
        await store.redis.config_set("maxmemory", str(used + 1024))
        with pytest.raises(OutOfMemoryError):
            for n in range(1000):  # until Redis says it is full
                await store.redis.set(f"filler:{n}", "x" * 4096)
        with pytest.raises(StoreUnavailable):
            await store.change_job("J1", decide_status(2), webhook_id="w-full")
        with pytest.raises(StoreUnavailable):  # a WATCH/MULTI write: Redis discards the transaction
            await store.rotate_link_key("J1")
        await store.redis.config_set("maxmemory", "0")
        record = await store.get_job("J1")
        assert record is not None and record.last_seq == 1  # nothing of the refused change
        assert not (await store.change_job("J1", decide_status(2), webhook_id="w-full")).duplicate
    finally:
        await store.close()
        server.stop()


async def test_a_replica_that_lost_its_primary_is_store_unavailable(tmp_path: Path) -> None:
    """Mid-failover the portal may reach a replica whose primary is gone: it answers MASTERDOWN
    (with ``replica-serve-stale-data no``), which is a 503 like any other Redis outage."""
    primary, replica = PrivateRedis(tmp_path).start(), PrivateRedis(tmp_path).start()
    store = RedisStore(replica.url())
    await store.open()
    try:
        await store.redis.config_set("replica-serve-stale-data", "no")
        await store.redis.replicaof("127.0.0.1", primary.port)
        primary.stop()
        with redis.Redis(host="127.0.0.1", port=replica.port) as probe:
            wait_until(lambda: probe.info("replication").get("master_link_status") == "down", "the link down")
        with pytest.raises(StoreUnavailable):
            await store.get_job("J1")
        with pytest.raises(StoreUnavailable):
            await store.change_job("J1", decide_status(1), webhook_id="w-failover")
    finally:
        await store.close()
        replica.stop()


async def test_too_few_replicas_for_a_write_is_store_unavailable(tmp_path: Path) -> None:
    """With ``min-replicas-to-write`` and no replica in reach Redis refuses writes (NOREPLICAS):
    a 503 the sender retries, and nothing of the change is written."""
    server = PrivateRedis(tmp_path).start()
    store = RedisStore(server.url())
    await store.open()
    try:
        await store.redis.config_set("min-replicas-to-write", "1")
        with pytest.raises(StoreUnavailable, match="NOREPLICAS"):
            await store.change_job("J1", decide_status(1), webhook_id="w-replicas")
        assert await store.get_job("J1") is None
        await store.redis.config_set("min-replicas-to-write", "0")
        assert not (await store.change_job("J1", decide_status(1), webhook_id="w-replicas")).duplicate
    finally:
        await store.close()
        server.stop()


async def test_a_redis_busy_with_another_script_is_store_unavailable(tmp_path: Path) -> None:
    """Another client's script running past ``busy-reply-threshold`` makes Redis answer BUSY to
    everyone: a 503 the sender retries, and the throttles fail open as when Redis is down."""
    server = PrivateRedis(tmp_path).start()
    store = RedisStore(server.url())
    await store.open()
    with redis.Redis(host="127.0.0.1", port=server.port) as admin:
        admin.config_set("busy-reply-threshold", "50")
        with ThreadPoolExecutor(1) as thread:
            looping = thread.submit(
                lambda: redis.Redis(host="127.0.0.1", port=server.port).eval("while true do end", 0)
            )
            try:
                wait_until(lambda: _busy(admin), "Redis to answer BUSY")
                with pytest.raises(StoreUnavailable, match="BUSY"):
                    await store.get_job("J1")
                logins = RedisThrottle(store, "logins", limit=1, window_seconds=60)
                await logins.record("client")  # not counted, and no error: throttles fail open
                assert not await logins.is_blocked("client")
            finally:
                wait_until(lambda: _script_killed(admin), "the script to be killed")
                with pytest.raises(redis.ResponseError):
                    looping.result()
    await store.close()
    server.stop()


def _busy(admin: redis.Redis) -> bool:
    try:
        admin.get("probe")
    except redis.ResponseError as exc:
        return str(exc).startswith("BUSY")
    return False


def _script_killed(admin: redis.Redis) -> bool:
    try:
        admin.script_kill()
    except redis.ResponseError:
        return not _busy(admin)  # no script running any more
    return True
