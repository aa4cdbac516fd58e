"""RedisBus: one pub/sub connection per process, fan-out, and LAGGED whenever events may be lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from portal.bus.base import LAGGED, Subscription, _Lagged
from portal.bus.redis import RedisBus
from portal.core.jobs import Job
from portal.runtime import Runtime
from portal.settings import from_env
from portal.staff.console import JobNotFound
from portal.store.base import Decision, StoredEvent
from portal.store.redis.store import RedisStore
from tests.redis_support import PrivateRedis, stop_saving

pytestmark = pytest.mark.anyio
WAIT = 15.0  # deadline for something that normally takes milliseconds


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def open_bus(url: str) -> RedisBus:
    store = RedisStore(url)
    await store.open()
    bus = RedisBus(store)
    await bus.start()
    return bus


async def close_bus(bus: RedisBus) -> None:
    await bus.stop()
    await bus.store.close()


@pytest.fixture
async def two_processes(redis_url: str) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    first, second = await open_bus(redis_url), await open_bus(redis_url)
    yield first, second
    await close_bus(first)
    await close_bus(second)


async def next_item(subscription: Subscription) -> StoredEvent | _Lagged:
    async with asyncio.timeout(WAIT):
        return await subscription.queue.get()


def stored(job_id: str, seq: int) -> StoredEvent:
    return StoredEvent(job_id, seq, "status", {"status": "en_route"}, "2030-03-03T12:00:00.000000Z")


async def test_events_published_by_one_process_reach_every_stream_of_another(
    two_processes: tuple[RedisBus, RedisBus],
) -> None:
    publisher, receiver = two_processes
    pages = [receiver.subscribe("J1"), receiver.subscribe("J1")]
    other_job = receiver.subscribe("J2")
    # The subscription is confirmed with LAGGED: the stream re-reads the log once, so
    # nothing published before Redis knew about the channel is missed.
    for page in [*pages, other_job]:
        assert await next_item(page) is LAGGED
    await publisher.publish([stored("J1", 1), stored("J1", 2)])
    for page in pages:
        assert [await next_item(page), await next_item(page)] == [stored("J1", 1), stored("J1", 2)]
    assert other_job.queue.empty()
    assert receiver.subscriber_count == 3


async def test_a_closed_stream_stops_listening(two_processes: tuple[RedisBus, RedisBus]) -> None:
    publisher, receiver = two_processes
    page = receiver.subscribe("J1")
    assert await next_item(page) is LAGGED
    receiver.unsubscribe(page)
    later = receiver.subscribe("J1")
    assert await next_item(later) is LAGGED
    await publisher.publish([stored("J1", 1)])
    assert await next_item(later) == stored("J1", 1)
    assert page.queue.empty()


async def test_after_redis_restarts_every_stream_is_told_to_catch_up(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path).start()
    publisher, receiver = await open_bus(server.url()), await open_bus(server.url())
    try:
        pages = [receiver.subscribe("J1"), receiver.subscribe("J2")]
        for page in pages:
            assert await next_item(page) is LAGGED
        server.restart()
        # Whatever was published while the connection was down is gone from pub/sub:
        # each stream is told to re-read the stored log once the bus is back.
        for page in pages:
            assert await next_item(page) is LAGGED
        await publisher.publish([stored("J2", 7)])
        assert await next_item(pages[1]) == stored("J2", 7)
    finally:
        await close_bus(publisher)
        await close_bus(receiver)
        server.stop()


async def test_a_change_stored_through_the_bus_s_store_is_published_by_the_same_write(
    two_processes: tuple[RedisBus, RedisBus],
) -> None:
    first, second = two_processes
    page = second.subscribe("J1")
    assert await next_item(page) is LAGGED
    en_route = Decision(Job("J1", {"status": "en_route"}), events=[("status", {"status": "en_route"})])
    change = await first.store.change_job("J1", lambda _: en_route)
    assert change.published  # so the caller does not publish it again
    assert await next_item(page) == change.events[0]  # with no bus.publish call: the write's script sent it


@pytest.mark.long(5)
async def test_publishing_while_redis_is_down_loses_no_stored_event(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path).start()
    bus = await open_bus(server.url())
    elsewhere = RedisStore(server.url())  # a process whose change was stored, then its publish failed
    await elsewhere.open()
    try:
        page = bus.subscribe("J1")
        assert await next_item(page) is LAGGED
        en_route = Decision(Job("J1", {"status": "en_route"}), events=[("status", {"status": "en_route"})])
        change = await elsewhere.change_job("J1", lambda _: en_route)
        assert len(change.events) == 1 and not change.published
        stop_saving(server)  # down between the commit and the publish
        await bus.publish(change.events)  # logged, not raised
        assert page.queue.empty()
        server.start()
        # The publish is lost, the event is not: the stream is told to catch up, and the log has it.
        assert await next_item(page) is LAGGED
        assert await bus.store.events_after("J1", 0) == change.events
    finally:
        await elsewhere.close()
        await close_bus(bus)
        server.stop()


async def test_an_idle_connection_is_pinged_and_kept(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import portal.bus.redis

    monkeypatch.setattr(portal.bus.redis, "HEARTBEAT_SECONDS", 0.05)
    bus = await open_bus(redis_url)
    try:
        page = bus.subscribe("J1")
        assert await next_item(page) is LAGGED
        await asyncio.sleep(0.5)  # ten heartbeat periods with nothing but pings
        assert page.queue.empty() and bus.connected.is_set()  # no reconnect, so no second LAGGED
    finally:
        await close_bus(bus)


@pytest.mark.long(2)
async def test_a_redis_runtime_stops_at_once_however_soon_after_starting(tmp_path: Path, redis_url: str) -> None:
    # A cancellation landing inside a redis-py command was once absorbed and stop() then waited
    # forever (the bus in a 15 s read, maintenance in its hourly sleep): `portal revoke` hung.
    env = {"PORTAL_STORE": redis_url, "PORTAL_SECRET_KEY": "k" * 40, "PORTAL_DB": str(tmp_path / "unused.db")}
    for _ in range(3):
        runtime = Runtime(from_env(env), run_worker=False)
        await runtime.start()
        with pytest.raises(JobNotFound):
            await runtime.console.revoke_link("NO-SUCH-JOB", "admin", "127.0.0.1")
        async with asyncio.timeout(WAIT):
            await runtime.stop()
