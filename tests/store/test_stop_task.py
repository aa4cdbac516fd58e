"""stop_task ends a task even when something inside it absorbs the first cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from portal.store.base import stop_task

pytestmark = pytest.mark.anyio
log = logging.getLogger("tests.stop_task")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_task_that_absorbs_one_cancellation_still_stops() -> None:
    absorbed = asyncio.Event()

    async def like_a_library_that_swallows_it() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            absorbed.set()  # and carries on, as redis-py 8.1 did mid-command
        await asyncio.sleep(3600)

    task = asyncio.create_task(like_a_library_that_swallows_it())
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await stop_task(task, log)
    assert absorbed.is_set() and task.cancelled()


async def test_a_task_that_failed_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(fails(), name="failing-task")
    await asyncio.sleep(0)
    await stop_task(task, log)
    assert "failing-task ended with an error while stopping: boom" in caplog.text
