"""The attention stream: the whole queue first, again on every change, and when a request falls due."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from portal.clock import utc_now
from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.runtime import Runtime
from portal.staff.attention import stream
from portal.store.base import Decision
from tests.helpers import make_settings

pytestmark = pytest.mark.anyio
WAIT = 30.0  # generous: this is about what arrives, not how fast


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def portal(tmp_path: Path) -> AsyncIterator[Runtime]:
    running = Runtime(make_settings(tmp_path), run_worker=False)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def change(portal: Runtime, job_id: str, **values: Any) -> None:
    event = FieldEvent(
        f"w-{job_id}-{len(values)}", "job.updated", utc_now(), {"job": {"id": job_id, "reference": job_id}}
    )

    def decide(before: Job | None) -> Decision:
        after = apply_event(before, event)
        after.values.update({"customer.phone_e164": "+13125550142", **values})
        return Decision(after)

    await portal.changes.change(job_id, decide)


async def next_queue(events: AsyncIterator[Any]) -> list[tuple[str, list[str]]]:
    document = await asyncio.wait_for(anext(events), WAIT)
    return [(item["job_id"], item["reasons"]) for item in document["items"]]


@pytest.mark.long(3)
async def test_the_stream_sends_the_queue_on_each_change_and_when_a_request_falls_due(portal: Runtime) -> None:
    events = stream(portal)
    try:
        assert await next_queue(events) == []
        rating = {"score": 1, "comment": "", "channel": "web", "at": iso_utc(utc_now())}
        await change(portal, "A", **{"portal.rating": rating})
        assert await next_queue(events) == [("A", ["low_rating"])]
        # Asked 59 minutes 58 seconds ago: due in two seconds, with no write in between.
        asked = iso_utc(utc_now() - dt.timedelta(minutes=59, seconds=58))
        await change(portal, "B", **{"portal.cancel": {"requested_at": asked}})
        assert await next_queue(events) == [("A", ["low_rating"])]  # the change itself: B not due yet
        assert await next_queue(events) == [("B", ["cancel_pending"]), ("A", ["low_rating"])]
    finally:
        await events.aclose()  # type: ignore[attr-defined]
