"""A retried webhook whose change was stored but never published still reaches open pages."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.bus.memory import MemoryBus
from portal.runtime import Runtime
from portal.settings import from_env
from portal.store.base import StoredEvent
from tests.helpers import job_updated, make_settings, post_event, sample_job, signed_headers, status_changed
from tests.processes import PORTAL, PortalProcess, StreamReader, redis_env, tracking_path

LOST = "msg_exec_reply_lost"


async def store_without_publishing(store_url: str, payload: dict[str, Any]) -> None:
    """What Redis holds when EXEC applied a change and its reply was lost: stored, never published.

    The change is made by a portal whose bus is its own in-process one, which no other
    process hears: exactly as if the process had died between EXEC and PUBLISH.
    """
    env = {"PORTAL_STORE": store_url, "PORTAL_SECRET_KEY": "x" * 32, "PORTAL_QUIET_HOURS": ""}
    portal = Runtime(from_env(env), bus=MemoryBus(), run_worker=False)
    await portal.store.open()
    try:
        result = await portal.changes.accept_field_event(portal.intake.parser.parse(json.dumps(payload).encode(), LOST))
        assert not result.duplicate and result.events
    finally:
        await portal.store.close()


@pytest.mark.long(2)
def test_a_retry_after_a_lost_exec_reply_reaches_open_streams(tmp_path: Path, redis_url: str) -> None:
    env = redis_env(tmp_path, redis_url)
    with PortalProcess([PORTAL], tmp_path, env) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert post_event(http, job_updated(sample_job())).status_code == 202
        reader = StreamReader(server.url + tracking_path(tmp_path, env) + "/events")
        try:
            assert reader.next().event == "snapshot"
            # An event through pub/sub first: the stream's channel is subscribed, so what
            # follows can only reach it by being published (or by a later catch-up).
            assert post_event(http, status_changed("WO-1", "en_route")).status_code == 202
            reader.until("status", lambda data: data.get("status") == "en_route")
            payload = status_changed("WO-1", "in_progress")
            asyncio.run(store_without_publishing(redis_url, payload))
            body = json.dumps(payload)
            retry = http.post("/webhooks/field", content=body, headers=signed_headers(body, msg_id=LOST))
            assert (retry.status_code, retry.json()) == (200, {"status": "duplicate"})
            reader.until("status", lambda data: data.get("status") == "in_progress")
        finally:
            reader.close()


def test_a_duplicate_publishes_the_newest_stored_event_again(tmp_path: Path) -> None:
    async def run() -> tuple[list[StoredEvent], list[StoredEvent]]:
        portal = Runtime(make_settings(tmp_path), run_worker=False)
        await portal.store.open()
        try:
            event = portal.intake.parser.parse(json.dumps(job_updated(sample_job())).encode(), "msg_first")
            first = await portal.changes.accept_field_event(event)
            page = portal.bus.subscribe("WO-1")
            again = await portal.changes.accept_field_event(event)
            assert again.duplicate and again.events == []
            heard = [page.queue.get_nowait() for _ in range(page.queue.qsize())]
            unknown = portal.bus.subscribe("WO-404")
            await portal.changes.republish_newest("WO-404")  # no such job: nothing to say
            assert unknown.queue.empty()
            return first.events, [e for e in heard if isinstance(e, StoredEvent)]
        finally:
            await portal.store.close()

    stored, heard = asyncio.run(run())
    assert heard == stored[-1:]  # only the newest, once: pages catch up from the log
