"""Open event streams end when their link is revoked, and one client may hold only so many."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from portal.app import create_app
from portal.runtime import Runtime
from portal.settings import Settings, from_env
from tests.helpers import ThreadedServer, job_updated, post_event, sample_job
from tests.processes import PORTAL, PortalProcess, redis_env, tracking_path

REVOKED_WITHIN = 5.0  # CONTRACT §6: revoking a link ends its open streams within 5 seconds
STREAM_TIMEOUT = httpx.Timeout(10.0, read=REVOKED_WITHIN)  # a stream still open then fails the read


def events_path(server: ThreadedServer) -> str:
    portal: Runtime = server.app.state.runtime
    record = server.call(portal.store.get_job("WO-1"))
    return f"/t/{portal.links.token(record.link_key)}/events"


def read_until_closed(http: httpx.Client, path: str, revoke: object) -> list[str]:
    """Open the stream, run ``revoke`` after the snapshot, and return every event seen until it ends."""
    seen: list[str] = []
    with connect_sse(http, "GET", path) as source:
        for sse in source.iter_sse():
            seen.append(sse.event)
            if len(seen) == 1:
                revoke()  # type: ignore[operator]
    return seen


@pytest.fixture
def server(settings: Settings) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(replace(settings, max_streams_per_client=2))) as running:
        yield running


def test_revoking_a_link_ends_its_open_stream_on_sqlite(server: ThreadedServer) -> None:
    portal: Runtime = server.app.state.runtime
    with httpx.Client(base_url=server.url, timeout=STREAM_TIMEOUT) as http:
        assert post_event(http, job_updated(sample_job())).status_code == 202
        path = events_path(server)
        seen = read_until_closed(
            http, path, lambda: server.call(portal.console.revoke_link("WO-1", "admin", "127.0.0.1"))
        )
        assert seen == ["snapshot"]
        assert http.get(path).status_code == 410


def test_a_stream_keeps_going_when_another_job_is_revoked(server: ThreadedServer) -> None:
    portal: Runtime = server.app.state.runtime
    with httpx.Client(base_url=server.url, timeout=STREAM_TIMEOUT) as http:
        post_event(http, job_updated(sample_job()))
        post_event(http, job_updated(sample_job("WO-2")))
        path = events_path(server)
        with connect_sse(http, "GET", path) as source:
            stream = source.iter_sse()
            assert next(stream).event == "snapshot"
            server.call(portal.console.revoke_link("WO-2", "admin", "127.0.0.1"))
            server.call(portal.bus.link_changed("WO-1"))  # a check that finds the link still good
            post_event(http, job_updated(sample_job(service="Boiler service")))
            assert next(stream).event == "job"


def test_one_client_holds_at_most_the_configured_streams(server: ThreadedServer) -> None:
    portal: Runtime = server.app.state.runtime
    with httpx.Client(base_url=server.url, timeout=10) as http:
        post_event(http, job_updated(sample_job()))
        path = events_path(server)
        with connect_sse(http, "GET", path) as first, connect_sse(http, "GET", path) as second:
            streams = first.iter_sse(), second.iter_sse()  # kept: a dropped iterator closes its stream
            assert [next(stream).event for stream in streams] == ["snapshot", "snapshot"]
            refused = http.get(path)
            assert refused.status_code == 429 and refused.headers["retry-after"]
        deadline = time.monotonic() + 10
        while portal.streams.open_streams("127.0.0.1") and time.monotonic() < deadline:
            time.sleep(0.05)  # the server notices the closed connections
        assert portal.streams.open_streams("127.0.0.1") == 0
        with connect_sse(http, "GET", path) as again:
            assert next(again.iter_sse()).event == "snapshot"


@pytest.mark.long(2)
@pytest.mark.timeout(40)
def test_revoking_ends_streams_in_another_process_on_redis(tmp_path: Path, redis_url: str) -> None:
    env = redis_env(tmp_path, redis_url)
    with PortalProcess([PORTAL], tmp_path, env) as one, httpx.Client(base_url=one.url, timeout=STREAM_TIMEOUT) as http:
        assert post_event(http, job_updated(sample_job())).status_code == 202
        path = tracking_path(tmp_path, env) + "/events"

        def revoke_from_here() -> None:
            async def run() -> None:
                portal = Runtime(from_env(env), run_worker=False)
                await portal.start()
                try:
                    await portal.console.revoke_link("WO-1", "admin", "127.0.0.1")
                finally:
                    await portal.stop()

            asyncio.run(run())

        assert read_until_closed(http, path, revoke_from_here) == ["snapshot"]
        assert http.get(path).status_code == 410
