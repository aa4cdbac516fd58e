"""Steps of the work on site: the same id updates its step, newest event wins, oldest first, bounded."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.core import route as road
from portal.core.jobs import FieldEvent, Job, apply_event
from portal.core.progress import MAX_PROGRESS_STEPS, steps_in
from portal.core.public import live_events, public_state

BASE = dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)


def step(seconds: int, step_id: str, title: str, recorded: int | None = None, **extra: Any) -> FieldEvent:
    at = (BASE + dt.timedelta(seconds=seconds if recorded is None else recorded)).isoformat()
    data = {"job_id": "J", "id": step_id, "title": title, "recorded_at": at, **extra}
    return FieldEvent(f"w{seconds}-{step_id}-{title}", "job.progress", BASE + dt.timedelta(seconds=seconds), data)


def apply_all(events: list[FieldEvent], job: Job | None = None) -> Job:
    for event in events:
        job = apply_event(job, event)
    assert job is not None
    return job


def titles(job: Job) -> list[str]:
    return [s["title"] for s in steps_in(job.values)]


def test_the_same_id_updates_its_step_and_keeps_its_place() -> None:
    job = apply_all([step(10, "a", "Arrived"), step(20, "b", "Drained"), step(30, "a", "Arrived, parked", recorded=10)])
    assert titles(job) == ["Arrived, parked", "Drained"]


def test_an_older_version_never_replaces_a_newer_one() -> None:
    job = apply_all([step(30, "a", "Newer", recorded=5), step(10, "a", "Older", recorded=5)])
    assert titles(job) == ["Newer"]


def test_steps_are_ordered_by_when_they_happened_not_when_they_arrived() -> None:
    job = apply_all([step(10, "late", "Second", recorded=200), step(20, "early", "First", recorded=100)])
    assert titles(job) == ["First", "Second"]


def test_only_the_newest_steps_are_kept() -> None:
    job = apply_all([step(i, f"s{i}", f"Step {i}") for i in range(MAX_PROGRESS_STEPS + 5)])
    assert len(steps_in(job.values)) == MAX_PROGRESS_STEPS
    assert titles(job)[0] == "Step 5"


@settings(max_examples=60, deadline=None)
@given(st.permutations(range(6)), st.lists(st.integers(0, 5), max_size=4))
def test_any_order_and_repetition_gives_the_same_steps(order: list[int], repeats: list[int]) -> None:
    events = [step(i * 10, f"s{i % 3}", f"v{i}", recorded=100 + (i % 3)) for i in range(6)]
    in_order = apply_all(events)
    shuffled = apply_all([events[i] for i in order] + [events[i] for i in repeats])
    assert steps_in(shuffled.values) == steps_in(in_order.values)


def test_the_public_state_shows_steps_in_the_jobs_time_zone_and_a_change_is_a_progress_event() -> None:
    booked = FieldEvent("w0", "job.updated", BASE, {"job": {"id": "J", "timezone": "America/Chicago"}})
    before = apply_all([booked])
    photo = "https://photos.example.com/1.jpg"
    after = apply_all([step(60, "a", "Arrived", note="Parked outside", photo_url=photo, percent=10)], before)
    state = public_state(after, BASE)
    assert state["progress"] == [
        {"id": "a", "title": "Arrived", "note": "Parked outside", "photo_url": photo, "percent": 10,
         "at": "2030-03-03T09:01:00-06:00"},
    ]  # fmt: skip
    events = dict(live_events(before, after, BASE))
    assert events["progress"] == {"progress": state["progress"]}
    assert "job" not in events  # nothing else changed


def ping(seconds: int, lat: float) -> FieldEvent:
    at = (BASE + dt.timedelta(seconds=seconds)).isoformat()
    data = {"job_id": "J", "lat": lat, "lon": -87.65, "recorded_at": at}
    return FieldEvent(f"p{seconds}", "technician.location", BASE + dt.timedelta(seconds=seconds), data)


def en_route_job() -> Job:
    job = {"id": "J", "status": "en_route", "address": {"text": "1 Main St", "lat": 41.88, "lon": -87.65}}
    return apply_all([FieldEvent("w0", "job.updated", BASE, {"job": job})])


def test_the_public_trail_keeps_twenty_positions_oldest_first_while_the_eta_keeps_its_own_window() -> None:
    job = apply_all([ping(i * 20, 41.90 + i / 1000) for i in range(25)], en_route_job())
    state = public_state(job, BASE + dt.timedelta(seconds=500))
    assert len(state["trail"]) == 20
    assert state["trail"][0] == {"lat": 41.905, "lon": -87.65}
    assert state["trail"][-1] == {"lat": state["location"]["lat"], "lon": -87.65}
    assert job.location is not None and len(job.location["trail"]) == 6  # the ETA's window as it was
    assert state["destination"] == {"lat": 41.88, "lon": -87.65}


def test_where_the_technician_is_going_and_has_been_shows_only_while_en_route() -> None:
    driving = apply_all([ping(10, 41.9)], en_route_job())
    driving = road.stored(driving, [[-87.65, 41.9], [-87.65, 41.88]], 300.0, 2200.0, BASE)
    assert public_state(driving, BASE)["route"] == {
        "type": "LineString",
        "coordinates": [[-87.65, 41.9], [-87.65, 41.88]],
    }
    arrived = apply_all(
        [
            FieldEvent(
                "w9", "job.status_changed", BASE + dt.timedelta(seconds=99), {"job_id": "J", "status": "in_progress"}
            )
        ],
        driving,
    )
    state = public_state(arrived, BASE)
    assert [state[k] for k in ("location", "destination", "trail", "route")] == [None, None, None, None]


def test_a_ping_moves_the_trail_in_its_location_event() -> None:
    before = apply_all([ping(10, 41.9)], en_route_job())
    after = apply_all([ping(20, 41.899)], before)
    events = dict(live_events(before, after, BASE + dt.timedelta(seconds=30)))
    assert events["location"]["lat"] == 41.899
    assert events["location"]["trail"] == [{"lat": 41.9, "lon": -87.65}, {"lat": 41.899, "lon": -87.65}]
