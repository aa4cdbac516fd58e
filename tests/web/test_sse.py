"""The live stream over a real socket: snapshot, live events, resume with Last-Event-ID."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent, connect_sse

from portal.app import create_app
from portal.runtime import Runtime
from portal.settings import Settings
from portal.web import tracking as tracking_web
from tests.helpers import ThreadedServer, event, job_updated, post_event, sample_job, status_changed

TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture
def server(settings: Settings) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(settings)) as running:
        yield running


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        yield client


def events_path(http: httpx.Client, server: ThreadedServer, job_id: str = "WO-1") -> str:
    portal: Runtime = server.app.state.runtime
    record = server.call(portal.store.get_job(job_id))
    return f"/t/{portal.links.token(record.link_key)}/events"


def take(source: EventSource, count: int) -> list[ServerSentEvent]:
    """The next ``count`` events; one iterator per source, since a stream is read only once."""
    stream = getattr(source, "_portal_iter", None)
    if stream is None:
        stream = source.iter_sse()
        source._portal_iter = stream  # type: ignore[attr-defined]
    return [next(stream) for _ in range(count)]


def ping(job_id: str, lat: float) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    return event("technician.location", {"job_id": job_id, "lat": lat, "lon": -87.6, "recorded_at": now})


def test_snapshot_then_live_events(http: httpx.Client, server: ThreadedServer) -> None:
    post_event(http, job_updated(sample_job()))
    path = events_path(http, server)
    with connect_sse(http, "GET", path) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        (snapshot,) = take(source, 1)
        assert snapshot.event == "snapshot"
        assert json.loads(snapshot.data)["status"] == "scheduled"
        first_id = int(snapshot.id)
        assert post_event(http, status_changed("WO-1", "en_route")).status_code == 202
        status, job = take(source, 2)
        assert (status.event, job.event) == ("status", "job")
        assert json.loads(status.data)["status"] == "en_route"
        assert int(status.id) == first_id + 1
        post_event(http, ping("WO-1", 41.9))
        kinds = {sse.event: sse for sse in take(source, 2)}
        assert json.loads(kinds["location"].data)["lat"] == 41.9
        assert json.loads(kinds["eta"].data)["minutes"] >= 0


def test_resume_replays_what_was_missed_instead_of_a_snapshot(http: httpx.Client, server: ThreadedServer) -> None:
    post_event(http, job_updated(sample_job()))
    path = events_path(http, server)
    with connect_sse(http, "GET", path) as source:
        (snapshot,) = take(source, 1)
    post_event(http, status_changed("WO-1", "dispatched"))
    post_event(http, status_changed("WO-1", "en_route"))
    with connect_sse(http, "GET", path, headers={"Last-Event-ID": snapshot.id}) as source:
        missed = take(source, 4)  # each status change: a status event and a job event
    assert "snapshot" not in [sse.event for sse in missed]
    statuses = [json.loads(sse.data)["status"] for sse in missed if sse.event == "status"]
    assert statuses == ["dispatched", "en_route"]
    ids = [int(sse.id) for sse in missed]
    assert ids == sorted(ids) and ids[0] == int(snapshot.id) + 1


def test_an_unknown_last_event_id_gets_a_snapshot(http: httpx.Client, server: ThreadedServer) -> None:
    post_event(http, job_updated(sample_job()))
    path = events_path(http, server)
    for bogus in ("999999", "abc", "-5"):
        with connect_sse(http, "GET", path, headers={"Last-Event-ID": bogus}) as source:
            (first,) = take(source, 1)
        assert first.event == "snapshot"


def test_resume_never_reveals_a_position_after_en_route(http: httpx.Client, server: ThreadedServer) -> None:
    post_event(http, job_updated(sample_job(status="en_route")))
    path = events_path(http, server)
    with connect_sse(http, "GET", path) as source:
        (snapshot,) = take(source, 1)
    post_event(http, ping("WO-1", 41.95))
    post_event(http, status_changed("WO-1", "in_progress"))
    with connect_sse(http, "GET", path, headers={"Last-Event-ID": snapshot.id}) as source:
        replayed = take(source, 2)
    assert [sse.event for sse in replayed] == ["status", "job"]
    assert all("41.95" not in sse.data for sse in replayed)


def test_idle_streams_get_comment_pings(
    monkeypatch: pytest.MonkeyPatch, http: httpx.Client, server: ThreadedServer
) -> None:
    monkeypatch.setattr(tracking_web, "SSE_PING_SECONDS", 1)
    post_event(http, job_updated(sample_job()))
    path = events_path(http, server)
    with http.stream("GET", path) as response:
        for line in response.iter_lines():
            if line.startswith(":"):
                break
    assert line.startswith(":")


def test_open_streams_are_counted_and_released(http: httpx.Client, server: ThreadedServer) -> None:
    post_event(http, job_updated(sample_job()))
    path = events_path(http, server)
    with connect_sse(http, "GET", path) as source:
        take(source, 1)
        assert "portal_sse_streams_open 1.0" in http.get("/metrics").text
    deadline = dt.datetime.now() + dt.timedelta(seconds=10)
    while "portal_sse_streams_open 0.0" not in http.get("/metrics").text:
        assert dt.datetime.now() < deadline, "the stream was not released after the client left"
