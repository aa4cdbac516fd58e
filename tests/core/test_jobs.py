"""The pure job model: newest event wins per field, whatever the order or repetition."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.core.jobs import FieldEvent, Job, apply_event, normalize_phone, parse_iso
from portal.core.policy import Policy, notices
from portal.notify.outbox import from_notice
from portal.settings import NOTIFICATION_MESSAGES

BASE = dt.datetime(2030, 3, 3, 12, 0, tzinfo=dt.UTC)


def ev(seconds: int, kind: str, data: dict[str, Any], webhook_id: str | None = None) -> FieldEvent:
    return FieldEvent(webhook_id or f"w{seconds}-{kind}", kind, BASE + dt.timedelta(seconds=seconds), data)


def apply_all(events: list[FieldEvent]) -> Job | None:
    job: Job | None = None
    for event in events:
        job = apply_event(job, event)
    return job


def test_a_late_older_status_never_regresses_a_newer_one() -> None:
    newer = ev(20, "job.status_changed", {"job_id": "J", "status": "en_route"})
    older = ev(10, "job.status_changed", {"job_id": "J", "status": "scheduled"})
    job = apply_all([newer, older])
    assert job is not None
    assert job.status == "en_route"
    assert [t["status"] for t in job.timeline] == ["scheduled", "en_route"]


def test_a_late_event_still_fills_fields_nothing_newer_set() -> None:
    newer = ev(20, "job.updated", {"job": {"id": "J", "status": "dispatched"}})
    older = ev(10, "job.updated", {"job": {"id": "J", "status": "scheduled", "service": "Boiler service"}})
    job = apply_all([newer, older])
    assert job is not None
    assert job.status == "dispatched"
    assert job.values["service"] == "Boiler service"


def test_customer_fields_merge_so_an_update_keeps_what_it_leaves_out() -> None:
    first = ev(10, "job.updated", {"job": {"id": "J", "customer": {"name": "Ann", "phone": "+13125550142"}}})
    second = ev(20, "job.updated", {"job": {"id": "J", "customer": {"email": "ann@example.com"}}})
    job = apply_all([first, second])
    assert job is not None
    assert job.customer["phone"] == "+13125550142"
    assert job.customer["email"] == "ann@example.com"
    assert job.values["customer.phone_e164"] == "+13125550142"


def test_technician_can_be_cleared_with_null() -> None:
    assign = ev(10, "job.updated", {"job": {"id": "J", "technician": {"name": "Dana Whitfield"}}})
    clear = ev(20, "job.updated", {"job": {"id": "J", "technician": None}})
    job = apply_all([assign, clear])
    assert job is not None
    assert job.values["technician"] is None


def test_locations_are_ordered_by_recorded_at_not_arrival() -> None:
    late = ev(30, "technician.location", {"job_id": "J", "lat": 1.0, "lon": 1.0, "recorded_at": "2030-03-03T12:00:10Z"})
    fresh = ev(
        20, "technician.location", {"job_id": "J", "lat": 2.0, "lon": 2.0, "recorded_at": "2030-03-03T12:00:20Z"}
    )
    job = apply_all([fresh, late])
    assert job is not None and job.location is not None
    assert job.location["lat"] == 2.0


def test_the_input_job_is_not_modified() -> None:
    job = apply_event(None, ev(10, "job.updated", {"job": {"id": "J", "status": "scheduled"}}))
    before = job.to_dict()
    apply_event(job, ev(20, "job.status_changed", {"job_id": "J", "status": "completed"}))
    assert job.to_dict() == before


def test_closed_at_is_the_time_of_completion() -> None:
    job = apply_all([ev(10, "job.status_changed", {"job_id": "J", "status": "completed"})])
    assert job is not None and job.closed_at is not None
    assert parse_iso(job.closed_at) == BASE + dt.timedelta(seconds=10)


def test_phone_numbers_normalise_or_are_marked_unreachable() -> None:
    assert normalize_phone("(312) 555-0142", "US") == "+13125550142"
    assert normalize_phone("312.555.0142", "US") == "+13125550142"
    assert normalize_phone("020 7946 0018", "GB") == "+442079460018"
    assert normalize_phone("not a phone", "US") is None
    assert normalize_phone("", "US") is None


def test_round_trip_through_a_dict() -> None:
    job = apply_all(
        [
            ev(10, "job.updated", {"job": {"id": "J", "status": "scheduled", "customer": {"name": "Ann"}}}),
            ev(
                11,
                "technician.location",
                {"job_id": "J", "lat": 1.0, "lon": 2.0, "recorded_at": "2030-03-03T12:00:11Z"},
            ),
        ]
    )
    assert job is not None
    assert Job.from_dict(job.to_dict()) == job


STATUSES = ["scheduled", "dispatched", "en_route", "in_progress", "completed", "on_hold"]


@st.composite
def event_lists(draw: st.DrawFn) -> list[FieldEvent]:
    count = draw(st.integers(min_value=1, max_value=12))
    events = []
    for index in range(count):
        seconds = draw(st.integers(min_value=0, max_value=50))
        kind = draw(st.sampled_from(["job.updated", "job.status_changed", "technician.location", "job.eta"]))
        status = draw(st.sampled_from(STATUSES))
        if kind == "job.updated":
            job: dict[str, Any] = {"id": "J"}
            if draw(st.booleans()):
                job["status"] = status
            if draw(st.booleans()):
                job["service"] = draw(st.sampled_from(["A", "B", "C"]))
            if draw(st.booleans()):
                job["customer"] = {"name": draw(st.sampled_from(["Ann", "Bo"]))}
            if draw(st.booleans()):
                job["technician"] = draw(st.sampled_from([None, {"name": "Dana"}, {"name": "Lee"}]))
            data: dict[str, Any] = {"job": job}
        elif kind == "job.status_changed":
            data = {"job_id": "J", "status": status}
        elif kind == "technician.location":
            data = {"job_id": "J", "lat": float(index), "lon": 0.0, "recorded_at": f"2030-03-03T12:00:{seconds:02d}Z"}
        else:
            data = {"job_id": "J", "eta": f"2030-03-03T13:00:{seconds:02d}Z"}
        events.append(ev(seconds, kind, data, webhook_id=f"w{index}"))
    return events


@settings(max_examples=200, deadline=None)
@given(events=event_lists(), data=st.data())
def test_any_order_and_duplication_gives_the_sorted_result(events: list[FieldEvent], data: st.DataObject) -> None:
    in_order = apply_all(sorted(events, key=lambda e: e.stamp))
    shuffled = data.draw(st.permutations(events))
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=6))
    mixed = apply_all([*shuffled, *repeats])
    assert in_order is not None and mixed is not None
    assert mixed.values == in_order.values
    assert mixed.stamps == in_order.stamps
    assert mixed.timeline == in_order.timeline
    assert mixed.location == in_order.location


REACHABLE = {"name": "Ann", "phone": "+13125550142", "email": "ann@example.com", "channels": ["sms", "email"]}
WINDOW = {"start": "2030-03-03T15:00:00Z", "end": "2030-03-03T17:00:00Z"}


@settings(max_examples=100, deadline=None)
@given(events=event_lists(), data=st.data())
def test_a_replayed_event_queues_no_message_that_was_not_queued_before(
    events: list[FieldEvent], data: st.DataObject
) -> None:
    """Any order and repetition: a webhook seen before adds no outbox key (the store dedups on keys)."""
    booking = ev(0, "job.updated", {"job": {"id": "J", "customer": REACHABLE, "window": WINDOW}}, "w-booking")
    shuffled = data.draw(st.permutations([booking, *events]))
    repeats = data.draw(st.lists(st.sampled_from([booking, *events]), max_size=6))
    now = BASE - dt.timedelta(days=1)  # the day before the visit: every message applies
    policy = Policy(enabled=NOTIFICATION_MESSAGES)
    job: Job | None = None
    queued: set[str] = set()
    applied: set[str] = set()
    for event in [*shuffled, *repeats]:
        after = apply_event(job, event)
        keys = {from_notice(n).dedup_key for n in notices(job, after, now, policy)}
        if event.webhook_id in applied:
            assert keys <= queued, f"replaying {event.webhook_id} queued {keys - queued}"
            assert after.values == job.values if job else True
        queued |= keys
        applied.add(event.webhook_id)
        job = after
