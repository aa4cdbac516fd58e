"""An open tracking stream keeps its connection and its place while the store is down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from portal.bus.memory import MemoryBus
from portal.clock import utc_now
from portal.core.events import StoredEvent
from portal.core.jobs import FieldEvent, iso_utc
from portal.runtime import Runtime
from portal.settings import from_env
from tests.helpers import SECRET_KEY, sample_job
from tests.redis_support import PrivateRedis, stop_saving

pytestmark = pytest.mark.anyio
WAIT = 20.0  # seconds: generous, for a busy machine


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def accept(runtime: Runtime, n: int, kind: str, data: dict[str, object]) -> None:
    await runtime.changes.accept_field_event(FieldEvent(f"msg_{n}", kind, utc_now(), data))


@pytest.mark.long(5)
async def test_a_stream_reads_what_it_missed_once_the_store_answers_again(tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path).start()
    env = {"PORTAL_STORE": redis.url(), "PORTAL_SECRET_KEY": SECRET_KEY, "PORTAL_DB": str(tmp_path / "unused.db")}
    runtime = Runtime(from_env(env), run_worker=False)
    await runtime.start()
    # The stream listens on an in-process bus this test drives, so it can be told of an event
    # while Redis is down (as a process whose pub/sub outlived a store hiccup would be).
    bus = MemoryBus()
    runtime.tracking.bus = bus
    try:
        await accept(runtime, 1, "job.updated", {"job": sample_job()})
        record = await runtime.store.get_job("WO-1")
        assert record is not None
        stream = runtime.tracking.event_stream(record, None)
        first = await asyncio.wait_for(anext(stream), WAIT)
        assert first.kind == "snapshot"
        # Stored, but published on the runtime's own bus, which this stream does not hear.
        await accept(runtime, 2, "job.status_changed", {"job_id": "WO-1", "status": "en_route"})
        stop_saving(redis)  # the store is down, its data kept on disk
        following = asyncio.create_task(anext(stream))
        # News of a later event: the stream must catch up from the store, which cannot answer.
        await bus.publish([StoredEvent("WO-1", first.seq + 2, "status", {"status": "in_progress"}, iso_utc(utc_now()))])
        await asyncio.sleep(1.5)  # several retries' worth
        assert not following.done(), following  # the stream did not end (it used to raise StoreUnavailable)
        redis.start()
        resumed = await asyncio.wait_for(following, WAIT)  # read from the stored log by a retry
        assert (resumed.kind, resumed.seq) == ("status", first.seq + 1)  # nothing skipped
        await stream.aclose()  # type: ignore[attr-defined]
    finally:
        await runtime.stop()
        redis.stop()
