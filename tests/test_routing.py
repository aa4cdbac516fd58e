"""Road routing end to end: a real OSRM-compatible server on loopback, the portal asking it in the background."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.runtime import Runtime
from tests.fakes.osrm_server import FakeOsrm
from tests.helpers import ThreadedServer, event, job_updated, make_settings, now_iso, post_event, sample_job

HOME = (41.8868, -87.6574)  # sample_job's address
M_PER_DEG = 6_371_000.0 * math.pi / 180
EAST = 1 / (M_PER_DEG * math.cos(math.radians(HOME[0])))  # degrees of longitude in a metre here
START = (HOME[0] - 2000 / M_PER_DEG, HOME[1] + 1000 * EAST)  # the fake's road: 2 km north, then 1 km west


@pytest.fixture
def osrm() -> Iterator[tuple[FakeOsrm, str]]:
    fake = FakeOsrm()
    with ThreadedServer(fake.app()) as server:
        yield fake, server.url


@pytest.fixture
def routed_client(tmp_path: Path, osrm: tuple[FakeOsrm, str]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path, routing_url=osrm[1]))) as client:
        yield client


def portal_of(client: TestClient) -> Runtime:
    portal: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return portal


def ping(job_id: str, where: tuple[float, float]) -> dict[str, Any]:
    return event("technician.location", {"job_id": job_id, "lat": where[0], "lon": where[1], "recorded_at": now_iso()})


def start_drive(client: TestClient, job_id: str = "WO-1", where: tuple[float, float] = START) -> None:
    assert post_event(client, job_updated(sample_job(job_id, status="en_route"))).status_code == 202
    assert post_event(client, ping(job_id, where)).status_code == 202


def state(client: TestClient, job_id: str = "WO-1") -> dict[str, Any]:
    portal = portal_of(client)
    record = client.portal.call(portal.store.get_job, job_id)  # type: ignore[union-attr]
    assert record is not None
    response = client.get(f"/t/{portal.links.token(record.link_key)}/state")
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def settle(client: TestClient) -> None:
    """Wait for the routing requests under way to finish and be stored."""
    router = portal_of(client).router
    assert router is not None
    client.portal.call(router.idle)  # type: ignore[union-attr]


def metric(client: TestClient, outcome: str) -> float:
    prefix = f'portal_routing_requests_total{{outcome="{outcome}"}} '
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


def test_the_eta_follows_the_road_and_the_page_gets_the_line(
    routed_client: TestClient, osrm: tuple[FakeOsrm, str]
) -> None:
    fake, _ = osrm
    start_drive(routed_client)
    settle(routed_client)
    assert len(fake.requests) == 1
    asked = fake.requests[0]
    assert asked["overview"] == "full" and asked["geometries"] == "geojson"
    assert asked["points"] == f"{START[1]:.6f},{START[0]:.6f};{HOME[1]:.6f},{HOME[0]:.6f}"  # lon,lat;lon,lat
    shown = state(routed_client)
    assert shown["route"]["type"] == "LineString" and len(shown["route"]["coordinates"]) == 3
    assert shown["eta"]["source"] == "route"
    assert shown["eta"]["minutes"] == 5  # 3 km of road at the fake's 10 m/s
    portal = portal_of(routed_client)
    events = routed_client.portal.call(portal.store.events_after, "WO-1", 0)  # type: ignore[union-attr]
    assert events is not None
    kinds = [e.type for e in events]
    assert "eta" in kinds[-2:] and kinds[-1] == "job"  # the stored route is announced to open pages
    assert metric(routed_client, "ok") == 1

    # Further along the same road: no new request, the position advances along the known line.
    assert post_event(routed_client, ping("WO-1", (START[0] + 1500 / M_PER_DEG, START[1]))).status_code == 202
    settle(routed_client)
    assert len(fake.requests) == 1
    later = state(routed_client)
    assert later["eta"]["source"] == "route" and later["eta"]["minutes"] == 2  # 1.5 km left

    # Arrived: no route, no line.
    arrived = event("job.status_changed", {"job_id": "WO-1", "status": "in_progress"})
    assert post_event(routed_client, arrived).status_code == 202
    assert state(routed_client)["route"] is None


@pytest.mark.parametrize(("mode", "outcome"), [("error", "error"), ("garbage", "bad_answer")])
def test_a_failing_engine_falls_back_to_the_straight_line_logged_once(
    routed_client: TestClient, osrm: tuple[FakeOsrm, str], caplog: pytest.LogCaptureFixture, mode: str, outcome: str
) -> None:
    fake, _ = osrm
    fake.mode = mode
    caplog.set_level(logging.INFO, logger="portal.routing")
    for job_id in ("WO-1", "WO-2"):
        start_drive(routed_client, job_id)
        settle(routed_client)
        shown = state(routed_client, job_id)
        assert shown["eta"]["source"] == "position" and shown["route"] is None
    assert metric(routed_client, outcome) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "straight-line" in warnings[0].getMessage()  # once per outage

    fake.mode = "ok"
    start_drive(routed_client, "WO-3")
    settle(routed_client)
    assert state(routed_client, "WO-3")["eta"]["source"] == "route"
    assert any("answers again" in r.getMessage() for r in caplog.records)


@pytest.mark.long(2)
def test_an_engine_slower_than_two_seconds_is_given_up(routed_client: TestClient, osrm: tuple[FakeOsrm, str]) -> None:
    fake, _ = osrm
    fake.mode = "timeout"
    start_drive(routed_client)
    assert state(routed_client)["eta"]["source"] == "position"  # the webhook did not wait for the engine
    settle(routed_client)
    assert metric(routed_client, "timeout") == 1
    assert state(routed_client)["eta"]["source"] == "position"


def test_an_unreachable_engine_is_an_error_not_a_500(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, routing_url="http://127.0.0.1:9")  # discard port: nothing listens
    with TestClient(create_app(settings)) as client:
        start_drive(client)
        settle(client)
        assert metric(client, "error") == 1
        assert state(client)["eta"]["source"] == "position"


def test_a_field_eta_still_wins_while_fresh(routed_client: TestClient) -> None:
    start_drive(routed_client)
    settle(routed_client)
    field_eta = event("job.eta", {"job_id": "WO-1", "eta": now_iso(40 * 60)})
    assert post_event(routed_client, field_eta).status_code == 202
    shown = state(routed_client)
    assert shown["eta"]["source"] == "field" and shown["route"] is not None  # the line still shows the road
