"""Running late and arriving: marked once, told once; and the position stays private outside en_route."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from starlette.testclient import TestClient

from portal.app import create_app
from portal.core.jobs import FieldEvent, Job, apply_event
from portal.core.trip import LATE, mark_progress
from portal.runtime import Runtime
from portal.settings import NOTIFICATION_MESSAGES, Settings
from portal.store.base import OutboxRow
from tests.helpers import ThreadedServer, event, job_updated, post_event, sample_job, status_changed

HOME = (41.8868, -87.6574)  # sample_job's address
FAR = (42.0668, -87.6574)  # 20 km north: about 54 minutes away at the urban default


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def soon_window() -> dict[str, str]:
    """A window that ends in ten minutes: a technician 20 km away will be late for it."""
    now = dt.datetime.now(dt.UTC)
    return {"start": iso(now - dt.timedelta(hours=1)), "end": iso(now + dt.timedelta(minutes=10))}


def ping(where: tuple[float, float], seconds_ago: float = 0) -> dict[str, Any]:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    return event("technician.location", {"job_id": "WO-1", "lat": where[0], "lon": where[1], "recorded_at": iso(at)})


def token_path(client: TestClient) -> str:
    portal: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    record = client.portal.call(portal.store.get_job, "WO-1")  # type: ignore[union-attr]
    return f"/t/{portal.links.token(record.link_key)}"


def outbox(client: TestClient, message: str) -> list[OutboxRow]:
    portal: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    rows: list[OutboxRow] = client.portal.call(portal.store.list_outbox, "WO-1")  # type: ignore[union-attr]
    return [row for row in rows if row.payload.get("message") == message]


# -- pure marks ----------------------------------------------------------------------------


def late_job() -> Job:
    now = dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)
    window = {"start": "2030-03-03T08:00:00-06:00", "end": "2030-03-03T09:05:00-06:00"}
    job = apply_event(None, FieldEvent("a", "job.updated", now, {"job": sample_job(status="en_route", window=window)}))
    data = {"job_id": "WO-1", "lat": FAR[0], "lon": FAR[1], "recorded_at": iso(now)}
    return apply_event(job, FieldEvent("b", "technician.location", now, data))


def test_lateness_is_marked_once_per_window() -> None:
    job = late_job()
    now = dt.datetime(2030, 3, 3, 15, 0, 30, tzinfo=dt.UTC)
    marked = mark_progress(job, now)
    assert marked.values[LATE]["window_end"] == "2030-03-03T09:05:00-06:00"
    assert LATE not in job.values  # the input is not modified
    assert mark_progress(marked, now + dt.timedelta(seconds=30)) is marked  # already marked: nothing new


def test_a_stale_position_or_another_status_marks_nothing() -> None:
    job = late_job()
    assert mark_progress(job, dt.datetime(2030, 3, 3, 15, 10, tzinfo=dt.UTC)) is job  # position 10 minutes old
    later = dt.datetime(2030, 3, 3, 15, 0, 1, tzinfo=dt.UTC)
    arrived = FieldEvent("c", "job.status_changed", later, {"job_id": "WO-1", "status": "in_progress"})
    on_site = apply_event(job, arrived)
    assert mark_progress(on_site, later) is on_site


# -- through the webhook, the store and the outbox -----------------------------------------


def test_running_late_is_queued_once_whatever_is_replayed(client: TestClient) -> None:
    post_event(client, job_updated(sample_job(status="en_route", window=soon_window())))
    first = ping(FAR, seconds_ago=5)
    assert post_event(client, first, msg_id="msg_late_1").status_code == 202
    assert {row.kind for row in outbox(client, "running_late")} == {"sms", "email"}
    assert post_event(client, first, msg_id="msg_late_1").json() == {"status": "duplicate"}
    post_event(client, first, msg_id="msg_late_2")  # the same ping under a new webhook id
    post_event(client, ping((FAR[0] - 0.01, FAR[1])))  # still late, a little closer
    rows = outbox(client, "running_late")
    assert len(rows) == 2
    assert rows[0].payload["vars"]["eta"] is not None
    state = client.get(token_path(client) + "/state").json()
    assert state["eta"]["late"] is True
    assert "Running late" in client.get(token_path(client)).text


def test_arriving_now_is_off_by_default(client: TestClient) -> None:
    post_event(client, job_updated(sample_job(status="en_route")))
    post_event(client, ping((HOME[0] + 0.001, HOME[1])))  # about 110 m away
    assert client.get(token_path(client) + "/state").json()["eta"]["arriving"] is True
    assert "is arriving now" in client.get(token_path(client)).text
    assert outbox(client, "arriving") == []


def test_arriving_now_goes_once_when_enabled(settings: Settings) -> None:
    enabled = replace(settings, notifications=NOTIFICATION_MESSAGES)
    with TestClient(create_app(enabled)) as client:
        post_event(client, job_updated(sample_job(status="en_route")))
        post_event(client, ping((HOME[0] + 0.001, HOME[1])))
        post_event(client, ping((HOME[0] + 0.0005, HOME[1])))
        assert sorted(row.kind for row in outbox(client, "arriving")) == ["email", "sms"]


# -- privacy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["in_progress", "completed", "on_hold", "dispatched", "cancelled"])
def test_no_position_or_eta_outside_en_route(client: TestClient, status: str) -> None:
    post_event(client, job_updated(sample_job(status="en_route")))
    post_event(client, ping((41.9312, -87.6574)))
    path = token_path(client)
    assert client.get(path + "/state").json()["location"]["lat"] == 41.9312
    post_event(client, status_changed("WO-1", status))
    post_event(client, ping((41.9377, -87.6574)))  # a ping after the change is kept out too
    state = client.get(path + "/state").json()
    assert state["location"] is None and state["eta"] is None
    page = client.get(path).text
    assert "41.93" not in page and "km (" not in page
    assert 'id="eta" aria-live="polite" hidden' in page and 'id="location" hidden' in page


@pytest.fixture
def server(settings: Settings) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(settings)) as running:
        yield running


def test_live_and_resumed_streams_carry_no_position_after_en_route(server: ThreadedServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        post_event(http, job_updated(sample_job(status="en_route")))
        portal: Runtime = server.app.state.runtime
        record = server.call(portal.store.get_job("WO-1"))
        path = f"/t/{portal.links.token(record.link_key)}/events"
        with connect_sse(http, "GET", path) as source:
            stream = source.iter_sse()
            snapshot = next(stream)
            post_event(http, ping((41.9512, -87.6574)))
            live = {sse.event: json.loads(sse.data) for sse in (next(stream), next(stream))}
            assert set(live["eta"]) >= {"at", "minutes", "range", "stale"}
            assert set(live["location"]) == {"lat", "lon", "updated_at", "accuracy_m"}
            post_event(http, status_changed("WO-1", "in_progress"))
            status = next(stream)
            assert status.event == "status"
            assert json.loads(status.data)["location"] is None and json.loads(status.data)["eta"] is None
        with connect_sse(http, "GET", path, headers={"Last-Event-ID": snapshot.id}) as source:
            stream = source.iter_sse()
            replayed = [next(stream) for _ in range(2)]
        assert [sse.event for sse in replayed] == ["status", "job"]
        for sse in replayed:
            data = json.loads(sse.data)
            assert data["location"] is None and data["eta"] is None
            assert "41.95" not in sse.data and "distance_m" not in sse.data
