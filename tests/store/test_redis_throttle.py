"""The throttles on Redis (bad links, failed staff logins): every process counts the same attempts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from portal.customer.tracking import LinkRefused
from portal.runtime import BAD_LINK_LIMIT, Runtime
from portal.settings import from_env
from portal.staff.auth import USER_FAILURE_LIMIT, LoginRefused, StaffAuth
from portal.store.redis.store import RedisStore
from portal.store.redis.throttle import RedisThrottle
from portal.store.throttle import Throttle, open_throttle
from tests.helpers import free_port, make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_attempts_in_one_process_block_the_client_in_another(redis_url: str) -> None:
    one, other = RedisStore(redis_url), RedisStore(redis_url)
    await one.open()
    await other.open()
    try:
        first, second = open_throttle(one, "bad-link", 3, 300), open_throttle(other, "bad-link", 3, 300)
        assert isinstance(first, RedisThrottle)
        for _ in range(2):
            await first.record("198.51.100.7")
        assert not await second.is_blocked("198.51.100.7")
        await second.record("198.51.100.7")
        assert await first.is_blocked("198.51.100.7") and await second.is_blocked("198.51.100.7")
        assert not await second.is_blocked("198.51.100.8")
    finally:
        await one.close()
        await other.close()


async def test_reserving_counts_and_checks_in_one_step_in_every_process(redis_url: str) -> None:
    one, other = RedisStore(redis_url), RedisStore(redis_url)
    await one.open()
    await other.open()
    try:
        first, second = RedisThrottle(one, "login-client", 5, 300), RedisThrottle(other, "login-client", 5, 300)
        tickets = await asyncio.gather(*(t.reserve("198.51.100.7") for t in (first, second) * 20))
        assert sum(ticket is not None for ticket in tickets) == 5
        await first.cancel("198.51.100.7", next(t for t in tickets if t is not None))
        assert await second.reserve("198.51.100.7") is not None and await first.reserve("198.51.100.7") is None
        await second.clear("198.51.100.7")
        assert not await first.is_blocked("198.51.100.7")
    finally:
        await one.close()
        await other.close()


async def test_an_unreachable_redis_does_not_block_anyone() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    await store.open()
    try:
        throttle = RedisThrottle(store, "bad-link", 1, 300)
        await throttle.record("198.51.100.7")
        assert not await throttle.is_blocked("198.51.100.7")
    finally:
        await store.close()


def test_sqlite_keeps_the_in_memory_throttle(tmp_path: object) -> None:
    assert isinstance(open_throttle(object(), "bad-link", 3, 300), Throttle)


@pytest.mark.long(3)
async def test_failed_staff_logins_in_one_process_are_refused_in_another(redis_url: str, tmp_path: Path) -> None:
    one, other = RedisStore(redis_url), RedisStore(redis_url)
    await one.open()
    await other.open()
    try:
        settings = make_settings(tmp_path)
        first, second = StaffAuth(settings, one), StaffAuth(settings, other)
        for attempt in range(USER_FAILURE_LIMIT):
            auth = first if attempt % 2 else second
            with pytest.raises(LoginRefused) as wrong:
                await auth.login("sam", "not the password", "198.51.100.7")
            assert wrong.value.status == 401
        with pytest.raises(LoginRefused) as refused:
            await first.login("sam", "not the password", "198.51.100.7")
        assert refused.value.status == 429
    finally:
        await one.close()
        await other.close()


async def test_parallel_forged_links_from_two_processes_get_at_most_the_limit_of_404s(
    redis_url: str, tmp_path: Path
) -> None:
    env = {"PORTAL_STORE": redis_url, "PORTAL_SECRET_KEY": "k" * 40, "PORTAL_DB": str(tmp_path / "unused.db")}
    runtimes = [Runtime(from_env(env), run_worker=False) for _ in range(2)]
    for runtime in runtimes:
        await runtime.start()
    try:

        async def answer(n: int) -> int:
            try:
                await runtimes[n % 2].tracking.open_link(f"forged-{n}", "198.51.100.9")
            except LinkRefused as refused:
                return refused.status
            return 200

        codes = await asyncio.gather(*(answer(n) for n in range(3 * BAD_LINK_LIMIT)))
        assert codes.count(404) == BAD_LINK_LIMIT and codes.count(429) == 2 * BAD_LINK_LIMIT
    finally:
        for runtime in runtimes:
            await runtime.stop()
