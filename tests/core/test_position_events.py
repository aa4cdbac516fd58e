"""Live events of a position report: worked out from the moving keys alone, yet the same events.

``live_events`` takes a shortcut for a change that moved only the position and the marks it
earns (``position_only``): it compares the keys such a change can move (``MOVING_KEYS``)
instead of two whole public states. These tests pin that the shortcut gives exactly what the
whole comparison (``state_events``) gives, over pings in any order, stale or live, late or
arriving, with a road route or a field ETA, and that what it leaves out cannot differ.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.core import route as road
from portal.core.actions import request_cancel, settle_requests
from portal.core.eta import HELD, EtaConfig
from portal.core.eta_log import observe
from portal.core.jobs import (
    PUBLIC_TRAIL_SIZE,
    PUBLIC_TRAIL_SPAN_SECONDS,
    TRAIL_SIZE,
    TRAIL_SPAN_SECONDS,
    FieldEvent,
    Job,
    apply_event,
    iso_utc,
    merge_path,
    merge_trail,
    parse_iso,
)
from portal.core.public import (
    MOVING_KEYS,
    POSITION_MARKS,
    live_events,
    position_only,
    public_state,
    state_events,
)
from portal.core.text import clean
from portal.core.trip import LATE, mark_progress

T0 = dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)
HOME = (41.8868, -87.6574)
CONFIG = EtaConfig()
METRES_PER_DEGREE = 111_195.0


def booked(status: str = "en_route", window_end: dt.timedelta = dt.timedelta(hours=1), **extra: Any) -> Job:
    """A job set off an hour before T0, its window ending ``window_end`` after T0."""
    data = {
        "id": "J",
        "status": status,
        "timezone": "America/Chicago",
        "window": {"start": (T0 - dt.timedelta(hours=1)).isoformat(), "end": (T0 + window_end).isoformat()},
        "customer": {"name": "Ann", "phone": "+13125550142"},
        "address": {"text": "1 Main St", "lat": HOME[0], "lon": HOME[1]},
        **extra,
    }
    return apply_event(None, FieldEvent("w0", "job.updated", T0 - dt.timedelta(hours=1), {"job": data}))


def ping(index: int, seconds: float, north_m: float, speed: float | None = None) -> FieldEvent:
    at = T0 + dt.timedelta(seconds=seconds)
    data: dict[str, Any] = {
        "job_id": "J",
        "lat": HOME[0] + north_m / METRES_PER_DEGREE,
        "lon": HOME[1],
        "accuracy_m": 5 + index,
        "recorded_at": at.isoformat(),
    }
    if speed is not None:
        data["speed_mps"] = speed
    return FieldEvent(f"p{index}", "technician.location", at, data)


def decided(before: Job, event: FieldEvent, now: dt.datetime, config: EtaConfig = CONFIG) -> Job:
    """The job a field event leaves, as ``JobChanges._decision`` makes it (marks and ETA log included)."""
    after = settle_requests(mark_progress(apply_event(before, event), now, config))
    return observe(after, now, config)


def assert_same_events(before: Job, after: Job, now: dt.datetime, config: EtaConfig = CONFIG) -> None:
    assert position_only(before, after)
    assert live_events(before, after, now, config) == state_events(before, after, now, config)
    state = public_state(after, now, config)
    assert clean(state) == state  # the moving keys, left out of the walk, had nothing to clean


PINGS = st.lists(
    st.tuples(
        st.integers(min_value=-900, max_value=900),  # seconds from T0: older pings come late too
        st.floats(min_value=0, max_value=20_000),  # metres north of the address
        st.one_of(st.none(), st.floats(min_value=0, max_value=40)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(
    pings=PINGS,
    later=st.integers(min_value=0, max_value=600),  # how long after the newest ping the pings are decided
    window_end=st.sampled_from([dt.timedelta(hours=2), dt.timedelta(minutes=10), dt.timedelta(minutes=-30)]),
    status=st.sampled_from(["en_route", "en_route", "dispatched", "in_progress"]),
    extra=st.sampled_from(["nothing", "route", "field eta", "no address"]),
)
def test_the_shortcut_gives_the_same_events_as_two_whole_public_states(
    pings: list[tuple[int, float, float | None]], later: int, window_end: dt.timedelta, status: str, extra: str
) -> None:
    job = booked(status, window_end)
    if extra == "route":
        coordinates = [[HOME[1], HOME[0] + 0.2], [HOME[1], HOME[0]]]
        job = road.stored(job, coordinates, 1200.0, 22_000.0, T0)
    elif extra == "field eta":
        eta = {"job_id": "J", "eta": (T0 + dt.timedelta(minutes=25)).isoformat()}
        job = apply_event(job, FieldEvent("e1", "job.eta", T0 - dt.timedelta(minutes=1), eta))
    elif extra == "no address":
        job.values.update({"address.lat": None, "address.lon": None})
    newest = max(seconds for seconds, _, _ in pings)
    now = T0 + dt.timedelta(seconds=newest + later)
    for index, (seconds, north_m, speed) in enumerate(pings):
        after = decided(job, ping(index, seconds, north_m, speed), now)
        assert_same_events(job, after, now)
        job = after


def test_a_ping_that_makes_the_job_late_says_so_in_its_eta_event_and_marks_it() -> None:
    job = booked(window_end=dt.timedelta(minutes=5))
    now = T0 + dt.timedelta(seconds=10)
    after = decided(job, ping(1, 5, 15_000, 10.0), now)  # 15 km out with 5 minutes left
    assert LATE in after.values
    assert_same_events(job, after, now)
    events = dict(live_events(job, after, now))
    assert events["eta"]["late"] is True
    assert events["location"]["trail"] == [{"lat": after.location["lat"], "lon": after.location["lon"]}]


def test_an_older_ping_keeps_the_newer_position_and_lengthens_the_trail() -> None:
    job = booked()
    now = T0 + dt.timedelta(seconds=60)
    newer = decided(job, ping(1, 60, 3000), now)
    older = decided(newer, ping(2, 30, 3500), now)
    assert older.location is not None and newer.location is not None
    assert older.location["recorded_at"] == newer.location["recorded_at"]
    assert_same_events(newer, older, now)
    shown = dict(live_events(newer, older, now))["location"]
    assert (shown["lat"], shown["accuracy_m"]) == (newer.location["lat"], newer.location["accuracy_m"])
    assert len(shown["trail"]) == 2


def test_the_same_ping_again_changes_nothing_a_page_sees() -> None:
    job = booked()
    now = T0 + dt.timedelta(seconds=60)
    once = decided(job, ping(1, 60, 3000), now)
    twice = decided(once, ping(1, 60, 3000), now)
    assert live_events(once, twice, now) == [] == state_events(once, twice, now)


def test_the_marks_a_position_earns_are_not_shown_and_the_held_estimate_only_moves_the_moving_keys() -> None:
    job = booked(window_end=dt.timedelta(minutes=5))
    now = T0 + dt.timedelta(seconds=40)
    for index, seconds in enumerate((0, 20, 40)):
        job = decided(job, ping(index, seconds, 12_000 - 200 * seconds, 10.0), now)
    assert POSITION_MARKS - {"portal.arriving"} <= job.values.keys()  # late, logged and held
    shown = public_state(job, now)
    unmarked = job.copy()
    for name in POSITION_MARKS - {HELD}:
        unmarked.values.pop(name, None)
    assert public_state(unmarked, now) == shown
    unmarked.values.pop(HELD)
    unheld = public_state(unmarked, now)
    assert {k for k in shown if shown[k] != unheld[k]} <= set(MOVING_KEYS)


def test_a_change_of_anything_else_goes_the_whole_way() -> None:
    job = decided(booked(status="dispatched"), ping(1, 0, 3000), T0)
    moved = apply_event(job, FieldEvent("w2", "job.status_changed", T0, {"job_id": "J", "status": "en_route"}))
    assert not position_only(job, moved)
    window = {"start": (T0 + dt.timedelta(hours=2)).isoformat(), "end": (T0 + dt.timedelta(hours=3)).isoformat()}
    rebooked = apply_event(job, FieldEvent("w3", "job.updated", T0, {"job": {"id": "J", "window": window}}))
    assert not position_only(job, rebooked)
    asked, _ = request_cancel(job, "", "page", T0)
    assert not position_only(job, asked)
    assert live_events(job, asked, T0) == state_events(job, asked, T0)
    assert iso_utc(T0) in str(asked.values["portal.cancel"])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from([0, 1, 599_999_999, 600_000_000, 600_000_001, 1_799_999_999, 1_800_000_000, 1_800_000_001])
        | st.integers(min_value=0, max_value=2_000_000_000),
        min_size=1,
        max_size=30,
    )
)
def test_the_trails_keep_the_newest_pings_within_their_spans_to_the_microsecond(micros: list[int]) -> None:
    pings = [
        {"lat": 1.0, "lon": 2.0, "order": [iso_utc(T0 + dt.timedelta(microseconds=m)), f"w{i}"]}
        for i, m in enumerate(micros)
    ]
    trail: list[dict[str, Any]] = []
    path: list[dict[str, Any]] = []
    for p in pings:
        trail, path = merge_trail(trail, p), merge_path(path, p)

    def kept(size: int, span: int) -> list[list[str]]:
        newest = sorted((p["order"] for p in pings), reverse=True)[:size]
        first = parse_iso(newest[0][0])
        return [o for o in newest if (first - parse_iso(o[0])).total_seconds() <= span]

    assert [p["order"] for p in trail] == kept(TRAIL_SIZE, TRAIL_SPAN_SECONDS)
    assert [p["order"] for p in path] == kept(PUBLIC_TRAIL_SIZE, PUBLIC_TRAIL_SPAN_SECONDS)
