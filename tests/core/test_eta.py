"""The ETA estimator: distance, speed and its blend, field override, staleness, ranges, time zones."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.core import eta
from portal.core.eta import Estimate, EtaConfig
from portal.core.jobs import TRAIL_SIZE, TRAIL_SPAN_SECONDS, FieldEvent, Job, apply_event, iso_utc, parse_iso
from portal.core.public import public_state
from portal.web import humanize

T0 = dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)
HOME = {"lat": 41.8868, "lon": -87.6574}
METRES_PER_DEGREE = eta.EARTH_RADIUS_M * math.pi / 180
CONFIG = EtaConfig()


def north_of_home(metres: float) -> tuple[float, float]:
    """A point on the meridian through HOME, ``metres`` north of it: a straight route home."""
    return HOME["lat"] + metres / METRES_PER_DEGREE, HOME["lon"]


def ping_event(index: int, at: dt.datetime, metres: float, speed: float | None = None) -> FieldEvent:
    lat, lon = north_of_home(metres)
    data: dict[str, Any] = {"job_id": "J", "lat": lat, "lon": lon, "recorded_at": at.isoformat()}
    if speed is not None:
        data["speed_mps"] = speed
    return FieldEvent(f"p{index}", "technician.location", at, data)


def en_route_job(**values: Any) -> Job:
    job = Job(id="J")
    job.values.update(
        {
            "status": "en_route",
            "timezone": "America/Chicago",
            "address.lat": HOME["lat"],
            "address.lon": HOME["lon"],
            **values,
        }
    )
    job.stamps["status"] = (iso_utc(T0 - dt.timedelta(hours=1)), "w0")
    return job


def drive(job: Job, pings: list[tuple[dt.datetime, float, float | None]]) -> Job:
    for index, (at, metres, speed) in enumerate(pings):
        job = apply_event(job, ping_event(index, at, metres, speed))
    return job


def found(job: Job, now: dt.datetime, config: EtaConfig = CONFIG) -> Estimate:
    result = eta.estimate(job.values.get("eta"), job.location, job.address, now, config)
    assert result is not None
    return result


def test_great_circle_distance_of_one_degree_of_latitude() -> None:
    assert eta.distance_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195, rel=1e-4)
    assert eta.distance_m(41.0, -87.0, 41.0, -87.0) == 0.0


def test_one_ping_without_speed_uses_the_urban_default_and_the_detour_factor() -> None:
    job = drive(en_route_job(), [(T0, 5000.0, None)])
    result = found(job, T0)
    expected = 5000.0 * eta.DETOUR_FACTOR / (eta.URBAN_SPEED_KMH * eta.KMH)
    assert (result.at - T0).total_seconds() == pytest.approx(expected, rel=1e-6)
    assert result.source == "position" and not result.stale
    assert result.distance_m == pytest.approx(5000.0, rel=1e-6)


def test_the_detour_factor_and_urban_speed_are_configurable() -> None:
    job = drive(en_route_job(), [(T0, 5000.0, None)])
    config = EtaConfig(detour_factor=1.0, urban_speed_mps=10.0)
    assert (found(job, T0, config).at - T0).total_seconds() == pytest.approx(500.0, rel=1e-6)


def test_a_stopped_reading_says_nothing_and_a_moving_one_is_blended() -> None:
    assert eta.measured_speed([{"lat": 1.0, "lon": 1.0, "speed_mps": 0.0, "recorded_at": iso_utc(T0)}]) is None
    assert eta.measured_speed([{"lat": 1.0, "lon": 1.0, "speed_mps": 20.0, "recorded_at": iso_utc(T0)}]) == 20.0
    blended = eta.travel_speed([{"lat": 1.0, "lon": 1.0, "speed_mps": 20.0, "recorded_at": iso_utc(T0)}])
    urban = eta.URBAN_SPEED_KMH * eta.KMH
    assert blended == pytest.approx(eta.OBSERVED_WEIGHT * 20.0 + (1 - eta.OBSERVED_WEIGHT) * urban)


def test_speed_is_measured_over_the_trail_not_one_reading() -> None:
    # 600 m a minute (10 m/s) over three pings, the newest reporting a stop at a light.
    job = drive(en_route_job(), [(T0, 3000.0, 10.0), (T0 + dt.timedelta(seconds=30), 2700.0, 10.0)])
    job = drive(job, [(T0 + dt.timedelta(seconds=60), 2400.0, 0.0)])
    assert job.location is not None
    assert eta.measured_speed(job.location["trail"]) == pytest.approx(10.0, rel=1e-6)


def test_a_gps_jump_is_not_taken_for_speed() -> None:
    job = drive(en_route_job(), [(T0, 90_000.0, None), (T0 + dt.timedelta(seconds=30), 3000.0, None)])
    assert job.location is not None
    top = eta.MAX_OBSERVED_SPEED_MPS
    urban = eta.URBAN_SPEED_KMH * eta.KMH
    assert eta.travel_speed(job.location["trail"]) == pytest.approx(
        eta.OBSERVED_WEIGHT * top + (1 - eta.OBSERVED_WEIGHT) * urban
    )


def test_the_trail_is_short_and_recent() -> None:
    pings = [(T0 + dt.timedelta(seconds=30 * i), 9000.0 - 100 * i, None) for i in range(12)]
    job = drive(en_route_job(), pings)
    assert job.location is not None
    trail = job.location["trail"]
    assert len(trail) == TRAIL_SIZE
    assert [p["order"] for p in trail] == sorted((p["order"] for p in trail), reverse=True)
    later = drive(job, [(T0 + dt.timedelta(seconds=30 * 11 + TRAIL_SPAN_SECONDS + 1), 100.0, None)])
    assert later.location is not None and len(later.location["trail"]) == 1


def test_a_position_without_news_turns_stale() -> None:
    job = drive(en_route_job(), [(T0, 5000.0, None)])
    assert not found(job, T0 + eta.STALE_AFTER).stale
    assert found(job, T0 + eta.STALE_AFTER + dt.timedelta(seconds=1)).stale
    config = EtaConfig(stale_after=dt.timedelta(seconds=30))
    assert found(job, T0 + dt.timedelta(seconds=31), config).stale


def test_a_fresh_field_eta_overrides_and_a_stale_one_gives_way() -> None:
    field_at = T0 + dt.timedelta(minutes=42)
    job = drive(en_route_job(eta={"at": field_at.isoformat(), "reported_at": iso_utc(T0)}), [(T0, 5000.0, None)])
    fresh = found(job, T0 + dt.timedelta(minutes=1))
    assert (fresh.source, fresh.at, fresh.stale) == ("field", field_at, False)
    assert fresh.distance_m == pytest.approx(5000.0, rel=1e-6)
    later = found(job, T0 + dt.timedelta(minutes=5))  # the field ETA still stands; the position is stale
    assert (later.source, later.distance_m) == ("field", None)
    old = found(job, T0 + eta.FIELD_ETA_FRESH + dt.timedelta(seconds=1))
    assert old.source == "position"


def test_a_stale_field_eta_without_a_position_is_shown_stale_not_dropped() -> None:
    job = en_route_job(eta={"at": (T0 + dt.timedelta(minutes=10)).isoformat(), "reported_at": iso_utc(T0)})
    result = found(job, T0 + eta.FIELD_ETA_FRESH + dt.timedelta(minutes=1))
    assert (result.source, result.stale) == ("field", True)
    assert eta.estimate(None, None, job.address, T0) is None


def test_the_range_widens_with_time_left_and_never_starts_before_now() -> None:
    near_start, near_end = eta.arrival_range(T0 + dt.timedelta(minutes=3), T0)
    assert near_start == T0 + dt.timedelta(minutes=1) and near_end == T0 + dt.timedelta(minutes=5)
    far_start, far_end = eta.arrival_range(T0 + dt.timedelta(minutes=50), T0)
    assert far_start == T0 + dt.timedelta(minutes=40) and far_end == T0 + dt.timedelta(minutes=60)
    past_start, past_end = eta.arrival_range(T0 - dt.timedelta(minutes=5), T0)
    assert past_start == T0 and past_end == T0 + dt.timedelta(minutes=2)
    odd_start, odd_end = eta.arrival_range(T0 + dt.timedelta(minutes=10, seconds=30), T0)
    assert odd_start.second == 0 and odd_end.second == 0 and odd_start < odd_end


def test_arriving_within_the_radius_only_when_live() -> None:
    job = drive(en_route_job(), [(T0, 140.0, None)])
    assert eta.arriving(found(job, T0))
    assert not eta.arriving(found(job, T0 + eta.STALE_AFTER + dt.timedelta(seconds=1)))
    narrow = EtaConfig(arrival_radius_m=100.0)
    assert not eta.arriving(found(job, T0, narrow), narrow)
    assert not eta.arriving(found(drive(en_route_job(), [(T0, 400.0, None)]), T0))


def test_late_when_the_estimate_passes_the_window_end() -> None:
    window = {"start": "2030-03-03T08:00:00-06:00", "end": "2030-03-03T09:10:00-06:00"}  # ends 15:10 UTC
    job = drive(en_route_job(window=window), [(T0, 5000.0, None)])  # about 13.5 minutes away
    assert eta.late(found(job, T0), window)
    assert not eta.late(found(job, T0), {**window, "end": "2030-03-03T09:30:00-06:00"})
    assert not eta.late(found(job, T0), None)


def test_public_eta_carries_the_contract_keys_and_more() -> None:
    job = drive(en_route_job(), [(T0, 5000.0, None)])
    state = public_state(job, T0)
    assert set(state["eta"]) >= {"at", "minutes", "range", "stale"}
    assert state["eta"]["minutes"] == 14  # 810 s: 5 km x 1.35 at 30 km/h
    assert state["eta"]["distance_m"] == 5000
    assert state["eta"]["updated_at"] == "2030-03-03T09:00:00-06:00"
    assert state["eta"]["stale_at"] == "2030-03-03T09:03:00-06:00"


def test_times_are_in_the_jobs_zone_across_the_spring_dst_change() -> None:
    # Chicago springs forward at 2:00 on 10 March 2030: 07:55 UTC is 1:55 CST, 08:01 UTC 3:01 CDT.
    now = dt.datetime(2030, 3, 10, 7, 55, tzinfo=dt.UTC)
    job = en_route_job(eta={"at": "2030-03-10T08:01:00Z", "reported_at": iso_utc(now)})
    state = public_state(job, now)["eta"]
    assert state["at"] == "2030-03-10T03:01:00-05:00"
    assert state["updated_at"] == "2030-03-10T01:55:00-06:00"
    assert state["minutes"] == 6
    assert state["range"] == {"start": "2030-03-10T01:59:00-06:00", "end": "2030-03-10T03:03:00-05:00"}
    assert humanize.clock(state["at"]) == "3:01 AM"
    assert humanize.clock_range(state["range"]) == "1:59 AM – 3:03 AM"


def test_times_are_in_the_jobs_zone_across_the_autumn_dst_change() -> None:
    # Berlin falls back at 3:00 CEST on 27 October 2030: 00:50 UTC is 2:50 CEST, 01:10 UTC 2:10 CET.
    now = dt.datetime(2030, 10, 27, 0, 50, tzinfo=dt.UTC)
    job = en_route_job(timezone="Europe/Berlin", eta={"at": "2030-10-27T01:10:00Z", "reported_at": iso_utc(now)})
    state = public_state(job, now)["eta"]
    assert state["at"] == "2030-10-27T02:10:00+01:00"
    assert state["updated_at"] == "2030-10-27T02:50:00+02:00"
    assert state["minutes"] == 20


def test_humanized_distances() -> None:
    assert humanize.distance(847.0) == "850 m"
    assert humanize.distance(3218.7) == "3.2 km (2.0 mi)"
    assert humanize.distance(None) == ""


@st.composite
def straight_drives(draw: st.DrawFn) -> tuple[float, float, list[float], bool]:
    speed = draw(st.floats(min_value=2.5, max_value=30.0))
    start = draw(st.floats(min_value=300.0, max_value=30_000.0))
    gaps = draw(st.lists(st.floats(min_value=1.0, max_value=90.0), min_size=1, max_size=20))
    reported = draw(st.booleans())
    return speed, start, gaps, reported


@settings(max_examples=150, deadline=None)
@given(drive_spec=straight_drives(), lag=st.floats(min_value=0.0, max_value=60.0))
def test_the_eta_only_counts_down_as_the_technician_approaches(
    drive_spec: tuple[float, float, list[float], bool], lag: float
) -> None:
    """At constant speed on a straight route, minutes left never go up from one ping to the next.

    With the device's speed reported, from the first ping; without it, from the first ping at
    which a speed could be measured over the trail (before that the urban default stands in).
    """
    speed, start, gaps, reported = drive_spec
    job = en_route_job()
    elapsed = 0.0
    left: list[float] = []
    for index, gap in enumerate([0.0, *gaps]):
        elapsed += gap
        metres = start - speed * elapsed
        if metres < 0:
            break
        at = T0 + dt.timedelta(seconds=elapsed)
        job = apply_event(job, ping_event(index, at, metres, speed if reported else None))
        assert job.location is not None
        if not reported and eta.measured_speed(job.location["trail"]) is None:
            continue
        now = at + dt.timedelta(seconds=lag)
        result = found(job, now)
        left.append((result.at - now).total_seconds())
    tolerance = 1e-6  # seconds: floating-point noise in the haversine, nothing more
    assert all(later <= earlier + tolerance for earlier, later in itertools.pairwise(left))
    minutes = [eta.minutes_left(T0 + dt.timedelta(seconds=s), T0) for s in left]
    assert minutes == sorted(minutes, reverse=True)


@settings(max_examples=100, deadline=None)
@given(order=st.permutations(list(range(8))), repeats=st.lists(st.integers(min_value=0, max_value=7), max_size=5))
def test_the_estimate_does_not_depend_on_the_order_pings_arrive_in(order: list[int], repeats: list[int]) -> None:
    events = [ping_event(i, T0 + dt.timedelta(seconds=25 * i), 8000.0 - 250 * i) for i in range(8)]
    in_order = drive_events(events)
    mixed = drive_events([events[i] for i in [*order, *repeats]])
    now = T0 + dt.timedelta(seconds=200)
    assert found(mixed, now) == found(in_order, now)
    assert parse_iso(in_order.location["recorded_at"]) == T0 + dt.timedelta(seconds=175)  # type: ignore[index]


def drive_events(events: list[FieldEvent]) -> Job:
    job = en_route_job()
    for event in events:
        job = apply_event(job, event)
    return job


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 1)), min_size=1, max_size=12))
@settings(max_examples=60)
def test_remembered_estimates_answer_as_a_fresh_one_whatever_was_asked_before(asks: list[tuple[int, int, int]]) -> None:
    """``for_job`` keeps its last answers: asked in any order about positions, clocks and
    configurations, each answer is the one ``estimate`` gives from scratch."""
    start = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)
    configs = [eta.DEFAULT_CONFIG, EtaConfig(urban_speed_mps=5.0)]
    jobs = []
    for n in range(4):
        job = Job("J1", {"status": "en_route", "address.lat": 41.88, "address.lon": -87.63})
        job.location = {"lat": 41.80 + n / 100, "lon": -87.63, "recorded_at": iso_utc(start)}
        jobs.append(job)
    for which, minutes, config in asks:
        job, now = jobs[which], start + dt.timedelta(minutes=4 * minutes)  # from 3 minutes on, stale
        fresh = eta.estimate(None, dict(job.location or {}), dict(job.address), now, configs[config])
        assert eta.for_job(job, now, configs[config]) == fresh
