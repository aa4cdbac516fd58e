"""Road routes: reading the engine's answer, projecting positions onto the line, and the ETA on it."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from portal.core import route as road
from portal.core.eta import EtaConfig, estimate, for_job
from portal.core.jobs import Job, iso_utc
from portal.core.public import public_state

T0 = dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)
HOME = (41.8868, -87.6574)
M_PER_DEG_LAT = road.EARTH_RADIUS_M * math.pi / 180
# An L-shaped road: 2 km south of home, north to home's latitude 1 km east of it, then west home.
START = (HOME[0] - 2000 / M_PER_DEG_LAT, HOME[1] + 1000 / (M_PER_DEG_LAT * math.cos(math.radians(HOME[0]))))
CORNER = (HOME[0], START[1])
LINE = [[START[1], START[0]], [CORNER[1], CORNER[0]], [HOME[1], HOME[0]]]


def answer(**route: Any) -> dict[str, Any]:
    base = {"duration": 300.0, "distance": 3000.0, "geometry": {"type": "LineString", "coordinates": LINE}}
    return {"code": "Ok", "routes": [{**base, **route}]}


def job_at(lat: float, lon: float, seen: dt.datetime = T0, **values: Any) -> Job:
    job = Job(id="J")
    job.values.update({"status": "en_route", "timezone": "UTC", "address.lat": HOME[0], "address.lon": HOME[1]})
    job.values.update(values)
    job.stamps["status"] = (iso_utc(T0 - dt.timedelta(minutes=10)), "w0")
    job.location = {"lat": lat, "lon": lon, "recorded_at": iso_utc(seen), "trail": []}
    return job


def routed(job: Job, fetched: dt.datetime = T0) -> Job:
    coordinates, duration, distance = road.parse_answer(answer())
    return road.stored(job, coordinates, duration, distance, fetched)


def test_the_documented_answer_is_read() -> None:
    coordinates, duration, distance = road.parse_answer(answer())
    assert coordinates == LINE and duration == 300.0 and distance == 3000.0


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"code": "NoRoute", "routes": []}, "not 'Ok'"),
        ([1, 2], "not 'Ok'"),
        ({"code": "Ok", "routes": []}, "no routes"),
        (answer(duration="soon"), "duration"),
        (answer(duration=float("nan")), "duration"),
        (answer(duration=-1), "duration"),
        (answer(distance=None), "distance"),
        (answer(geometry="_p~iF~ps|U_ulLnnqC"), "LineString"),  # an encoded polyline: asked without geojson
        (answer(geometry={"type": "LineString", "coordinates": [[1, 2]]}), "fewer than two"),
        (answer(geometry={"type": "LineString", "coordinates": [[1, 2], ["a", 3]]}), "not \\[lon, lat\\]"),
        (answer(geometry={"type": "LineString", "coordinates": [[1, 2], [200, 3]]}), "off the globe"),
    ],
)
def test_an_answer_that_is_not_a_route_is_refused(payload: Any, says: str) -> None:
    with pytest.raises(road.BadRoute, match=says):
        road.parse_answer(payload)


def test_a_long_line_is_thinned_keeping_both_ends() -> None:
    line = [[float(i), 0.0] for i in range(5000)]
    thinned = road.thin(line, 100)
    assert len(thinned) == 100 and thinned[0] == line[0] and thinned[-1] == line[-1]


def test_projection_measures_along_and_off_the_line() -> None:
    at_start = road.project(LINE, *START)
    assert at_start.off_m < 1 and at_start.along_m < 1 and at_start.length_m == pytest.approx(3000, rel=0.01)
    halfway_north = (START[0] + 1000 / M_PER_DEG_LAT, START[1])
    fix = road.project(LINE, *halfway_north)
    assert fix.along_m == pytest.approx(1000, rel=0.01) and fix.off_m < 1
    beside = (CORNER[0], CORNER[1] - 500 / (M_PER_DEG_LAT * math.cos(math.radians(HOME[0]))))  # on the last leg
    assert road.project(LINE, *beside).along_m == pytest.approx(2500, rel=0.01)
    east = (halfway_north[0], halfway_north[1] + 300 / (M_PER_DEG_LAT * math.cos(math.radians(HOME[0]))))
    assert road.project(LINE, *east).off_m == pytest.approx(300, rel=0.02)


def test_the_time_left_follows_the_share_of_the_road_ahead() -> None:
    route = road.current(routed(job_at(*START)))
    assert route is not None
    assert road.seconds_left(route, *START) == pytest.approx(300, rel=0.01)
    assert road.seconds_left(route, START[0] + 1500 / M_PER_DEG_LAT, START[1]) == pytest.approx(150, rel=0.02)
    assert road.seconds_left(route, *HOME) == pytest.approx(0, abs=0.5)
    assert road.seconds_left(route, START[0], START[1] + 0.01) is None  # 800 m east: another road


def test_the_eta_rests_on_the_road_while_on_it() -> None:
    halfway = (START[0] + 1500 / M_PER_DEG_LAT, START[1])
    job = routed(job_at(*halfway))
    found = for_job(job, T0 + dt.timedelta(seconds=5))
    assert found is not None and found.source == "route"
    assert (found.at - T0).total_seconds() == pytest.approx(150, rel=0.02)
    assert found.distance_m == pytest.approx(road.metres(*halfway, *HOME), rel=0.001)  # arriving stays straight-line


def test_off_the_route_or_without_one_the_straight_line_estimate_stands() -> None:
    off = routed(job_at(START[0], START[1] + 0.01))
    assert (found := for_job(off, T0)) is not None and found.source == "position"
    assert (plain := for_job(job_at(*START), T0)) is not None and plain.source == "position"


def test_a_route_of_an_earlier_drive_is_not_used() -> None:
    job = routed(job_at(*START))
    job.stamps["status"] = (iso_utc(T0), "w9")  # en_route again: a new trip
    assert road.current(job) is None
    assert (found := for_job(job, T0)) is not None and found.source == "position"


def test_a_fresh_field_eta_still_wins_over_the_road() -> None:
    field = {"at": iso_utc(T0 + dt.timedelta(minutes=40)), "reported_at": iso_utc(T0)}
    job = routed(job_at(*START, eta=field))
    assert (found := for_job(job, T0 + dt.timedelta(minutes=1))) is not None and found.source == "field"
    later = T0 + EtaConfig().field_eta_fresh + dt.timedelta(minutes=1)
    fresh_ping = routed(job_at(*START, seen=later, eta=field))
    assert (found := for_job(fresh_ping, later)) is not None and found.source == "route"


def test_a_road_estimate_from_an_old_position_is_stale() -> None:
    job = routed(job_at(*START))
    found = estimate(None, job.location, job.address, T0 + dt.timedelta(minutes=5), route=road.current(job))
    assert found is not None and found.source == "route" and found.stale


def test_the_public_state_carries_the_route_only_while_en_route() -> None:
    job = routed(job_at(*START))
    state = public_state(job, T0)
    assert state["route"] == {"type": "LineString", "coordinates": LINE}
    assert state["eta"]["source"] == "route"
    arrived = job.copy()
    arrived.values["status"] = "in_progress"
    assert public_state(arrived, T0)["route"] is None
    assert public_state(job_at(*START), T0)["route"] is None  # no routing: no line


def test_when_to_ask_for_a_route() -> None:
    now = T0 + dt.timedelta(seconds=5)
    fresh = job_at(*START)
    assert road.needs_request(fresh, now, None)  # no route yet
    assert not road.needs_request(fresh, now, now - dt.timedelta(seconds=29))  # one request per 30 s
    assert road.needs_request(fresh, now, now - dt.timedelta(seconds=30))
    on_it = routed(fresh)
    assert not road.needs_request(on_it, now, T0)  # on a fresh route: advance along it
    assert road.needs_request(on_it, T0 + road.REFRESH_AFTER, T0)  # an old route is asked again
    off_it = routed(job_at(START[0], START[1] + 0.01))
    assert road.needs_request(off_it, now, None)  # left the route: recompute
    assert not road.needs_request(off_it, now, now - dt.timedelta(seconds=10))
    nowhere = job_at(*START)
    nowhere.values["address.lat"] = None
    assert not road.needs_request(nowhere, now, None)  # no address to route to
    scheduled = job_at(*START, status="scheduled")
    assert not road.needs_request(scheduled, now, None)
