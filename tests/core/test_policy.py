"""The notification policy, row by row, as a pure function of (before, after, now)."""

from __future__ import annotations

import datetime as dt
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.core.contacts import single_address
from portal.core.jobs import FieldEvent, Job, apply_event
from portal.core.policy import (
    Notice,
    Policy,
    end_of_quiet_hours,
    in_quiet_hours,
    notices,
    reachable,
    reminder_time,
    still_valid,
)
from portal.settings import NOTIFICATION_MESSAGES
from tests.helpers import sample_job

CHICAGO = ZoneInfo("America/Chicago")
ALL = Policy(enabled=NOTIFICATION_MESSAGES)
QUIET = Policy(enabled=NOTIFICATION_MESSAGES, quiet_hours=(time(21, 0), time(8, 0)))
# A weekday noon in Chicago, well before the 2030-03-03 visit of sample_job().
NOON = dt.datetime(2030, 2, 25, 18, 0, tzinfo=dt.UTC)
T0 = dt.datetime(2030, 2, 25, 12, 0, tzinfo=dt.UTC)


def ev(kind: str, data: dict[str, Any], minute: int, webhook_id: str | None = None) -> FieldEvent:
    return FieldEvent(webhook_id or f"w-{kind}-{minute}", kind, T0 + timedelta(minutes=minute), data)


def updated(minute: int, **job: Any) -> FieldEvent:
    return ev("job.updated", {"job": {"id": "WO-1", **job}}, minute)


def status(value: str, minute: int) -> FieldEvent:
    return ev("job.status_changed", {"job_id": "WO-1", "status": value}, minute)


def apply_all(events: list[FieldEvent]) -> Job:
    job: Job | None = None
    for event in events:
        job = apply_event(job, event)
    assert job is not None
    return job


def step(before: Job | None, event: FieldEvent, now: dt.datetime = NOON, policy: Policy = ALL) -> list[Notice]:
    return notices(before, apply_event(before, event), now, policy)


def booked_job(**changes: Any) -> Job:
    return apply_event(None, updated(0, **sample_job(**changes)))


def by_channel(found: list[Notice]) -> dict[str, Notice]:
    return {n.channel: n for n in found}


# -- booking confirmed ------------------------------------------------------------------


def test_a_new_booked_job_is_confirmed_on_each_of_its_channels() -> None:
    found = step(None, updated(0, **sample_job()))
    confirmed = [n for n in found if n.message == "booking_confirmed"]
    assert {n.channel for n in confirmed} == {"sms", "email"}
    sms = by_channel(confirmed)["sms"]
    assert sms.payload["to"] == "+13125550142"
    assert sms.payload["fallback_email"] is None  # email goes anyway
    assert sms.payload["vars"]["moved"] is False
    assert sms.payload["vars"]["window"] == {"start": "2030-03-03T09:00:00-06:00", "end": "2030-03-03T11:00:00-06:00"}
    assert sms.payload["vars"]["technician_name"] == "Dana"
    assert sms.payload["vars"]["customer_name"] == "Maria"
    assert sms.not_before is None


def test_a_moved_window_is_confirmed_again_and_says_so() -> None:
    job = booked_job()
    new_window = {"start": "2030-03-04T13:00:00-06:00", "end": "2030-03-04T15:00:00-06:00"}
    found = [n for n in step(job, updated(5, window=new_window)) if n.message == "booking_confirmed"]
    assert len(found) == 2
    assert all(n.payload["vars"]["moved"] for n in found)
    assert found[0].dedup_key != by_channel(step(None, updated(0, **sample_job())))["sms"].dedup_key


def test_the_same_window_sent_again_says_nothing() -> None:
    job = booked_job()
    assert step(job, updated(5, window=sample_job()["window"])) == []


def test_dispatching_a_booked_job_does_not_confirm_it_again() -> None:
    assert step(booked_job(), status("dispatched", 5)) == []


def test_coming_back_from_hold_is_confirmed_again() -> None:
    held = apply_event(booked_job(), status("on_hold", 5))
    found = [n.message for n in step(held, status("scheduled", 10))]
    assert "booking_confirmed" in found


def test_a_created_job_without_booking_says_nothing() -> None:
    assert step(None, updated(0, **sample_job(status="created"))) == []


# -- reminders --------------------------------------------------------------------------


def reminder_of(found: list[Notice], channel: str = "sms") -> Notice:
    return next(n for n in found if n.message == "reminder" and n.channel == channel)


def test_the_reminder_goes_at_six_the_evening_before() -> None:
    found = step(None, updated(0, **sample_job()))
    # 2030-03-02 18:00 in Chicago (CST, UTC-6) is 2030-03-03 00:00 UTC.
    assert reminder_of(found).not_before == "2030-03-03T00:00:00.000000Z"
    assert reminder_of(found, "email").not_before == "2030-03-03T00:00:00.000000Z"
    assert reminder_of(found).payload["visit"] == "2030-03-03T15:00:00.000000Z"


def test_a_late_booking_is_reminded_two_hours_before() -> None:
    evening = dt.datetime(2030, 3, 3, 1, 30, tzinfo=dt.UTC)  # 19:30 the day before, in Chicago
    found = step(None, updated(0, **sample_job()), now=evening)
    assert reminder_of(found).not_before == "2030-03-03T13:00:00.000000Z"  # 07:00 local


def test_a_booking_less_than_two_hours_ahead_gets_no_reminder() -> None:
    morning = dt.datetime(2030, 3, 3, 13, 30, tzinfo=dt.UTC)  # 07:30 local, visit at 09:00
    found = step(None, updated(0, **sample_job()), now=morning)
    assert [n.message for n in found] == ["booking_confirmed", "booking_confirmed"]


def test_the_evening_reminder_follows_daylight_saving_time() -> None:
    # US clocks spring forward on 2025-03-09: the evening before a Monday visit is already CDT.
    window = {"start": "2025-03-10T09:00:00-05:00", "end": "2025-03-10T11:00:00-05:00"}
    before = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    found = step(None, updated(0, **sample_job(window=window)), now=before)
    assert reminder_of(found).not_before == "2025-03-09T23:00:00.000000Z"  # 18:00 CDT, not 00:00 UTC


def test_an_early_sms_reminder_waits_for_the_end_of_quiet_hours() -> None:
    window = {"start": "2030-03-03T09:00:00-06:00", "end": "2030-03-03T11:00:00-06:00"}
    evening = dt.datetime(2030, 3, 3, 3, 30, tzinfo=dt.UTC)  # 21:30 local, after the 18:00 slot
    found = step(None, updated(0, **sample_job(window=window)), now=evening, policy=QUIET)
    # Two hours before is 07:00, inside quiet hours: moved to 08:00, still before the visit.
    assert reminder_of(found).not_before == "2030-03-03T14:00:00.000000Z"
    assert reminder_of(found, "email").not_before == "2030-03-03T13:00:00.000000Z"


def test_an_sms_reminder_that_would_come_after_the_visit_start_is_dropped() -> None:
    window = {"start": "2030-03-03T07:30:00-06:00", "end": "2030-03-03T09:00:00-06:00"}
    evening = dt.datetime(2030, 3, 3, 3, 30, tzinfo=dt.UTC)
    found = step(None, updated(0, **sample_job(window=window)), now=evening, policy=QUIET)
    assert [n.channel for n in found if n.message == "reminder"] == ["email"]


def test_reminder_time_picks_evening_then_lead_then_nothing() -> None:
    start = dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)
    assert reminder_time(start, start - timedelta(days=3), CHICAGO, ALL) == dt.datetime(2030, 3, 3, 0, 0, tzinfo=dt.UTC)
    assert reminder_time(start, start - timedelta(hours=5), CHICAGO, ALL) == start - timedelta(hours=2)
    assert reminder_time(start, start - timedelta(hours=1), CHICAGO, ALL) is None


def test_a_reminder_no_longer_applies_once_the_visit_moved_or_closed() -> None:
    job = booked_job()
    payload = reminder_of(step(None, updated(0, **sample_job()))).payload
    assert still_valid(payload, job)
    moved = apply_event(job, updated(5, window={"start": "2030-03-05T09:00:00-06:00", "end": "2030-03-05T10:00:00Z"}))
    assert not still_valid(payload, moved)
    assert not still_valid(payload, apply_event(job, status("cancelled", 5)))
    assert not still_valid(payload, apply_event(job, status("on_hold", 5)))
    assert not still_valid(payload, None)
    assert still_valid({"message": "booking_confirmed"}, apply_event(job, status("completed", 5)))


@pytest.mark.parametrize("value", ["en_route", "completed", "cancelled", "on_hold"])
def test_a_status_message_is_true_only_while_the_status_lasts(value: str) -> None:
    job = apply_event(booked_job(), status(value, 5))
    assert still_valid({"message": value}, job)
    rebooked = apply_event(job, status("scheduled" if value != "en_route" else "in_progress", 6))
    assert not still_valid({"message": value}, rebooked)


# -- technician -------------------------------------------------------------------------


def test_a_new_technician_is_announced() -> None:
    tech = {"id": "T-9", "name": "Sam Ortiz", "photo_url": None}
    found = step(booked_job(), updated(5, technician=tech))
    assert {n.message for n in found} == {"technician_assigned"}
    assert found[0].payload["vars"]["technician_name"] == "Sam"


def test_the_same_technician_or_none_is_not_announced() -> None:
    job = booked_job()
    assert step(job, updated(5, technician=sample_job()["technician"])) == []
    assert step(job, updated(5, technician=None)) == []


def test_no_technician_message_at_booking_nor_once_on_the_way() -> None:
    assert "technician_assigned" not in {n.message for n in step(None, updated(0, **sample_job()))}
    on_the_way = apply_event(booked_job(), status("en_route", 5))
    assert step(on_the_way, updated(6, technician={"id": "T-9", "name": "Sam"})) == []


# -- status messages --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["en_route", "completed", "cancelled", "on_hold"])
def test_each_announced_status_sends_its_message(value: str) -> None:
    found = step(booked_job(), status(value, 5))
    assert {n.message for n in found} == {value}
    assert {n.channel for n in found} == {"sms", "email"}
    assert all(n.dedup_key.startswith(f"WO-1:{value}:") for n in found)


@pytest.mark.parametrize("value", ["created", "in_progress"])
def test_statuses_without_news_send_nothing(value: str) -> None:
    assert step(booked_job(), status(value, 5)) == []


def test_events_that_change_nothing_the_customer_is_told_send_nothing() -> None:
    job = booked_job()
    on_the_way = apply_event(job, status("en_route", 5))
    ping = ev(
        "technician.location", {"job_id": "WO-1", "lat": 41.9, "lon": -87.6, "recorded_at": "2030-02-25T12:06Z"}, 6
    )
    assert step(on_the_way, ping) == []
    assert step(on_the_way, ev("job.eta", {"job_id": "WO-1", "eta": "2030-02-25T12:30:00Z"}, 6)) == []
    assert step(job, updated(5, notes="Gate code 1234", service="Boiler", address={"text": "elsewhere"})) == []
    assert step(job, updated(5, reference="R-2", invoice_url="https://pay.example.com/i/1")) == []


def test_a_late_older_status_sends_nothing() -> None:
    done = apply_event(booked_job(), status("completed", 10))
    assert step(done, status("en_route", 5)) == []


def test_a_replayed_event_sends_nothing() -> None:
    event = status("en_route", 5)
    job = apply_event(booked_job(), event)
    assert step(job, event) == []


def test_completion_mentions_the_invoice_when_there_is_one() -> None:
    job = booked_job(invoice_url="https://pay.example.com/i/1")
    found = step(job, status("completed", 5))
    assert found[0].payload["vars"]["invoice_url"] == "https://pay.example.com/i/1"


def test_disabled_messages_are_not_sent() -> None:
    only_en_route = Policy(enabled=frozenset({"en_route"}))
    assert step(None, updated(0, **sample_job()), policy=only_en_route) == []
    assert {n.message for n in step(booked_job(), status("en_route", 5), policy=only_en_route)} == {"en_route"}


# -- channels ---------------------------------------------------------------------------


def customer(**fields: Any) -> dict[str, Any]:
    return {"name": "Maria Lopez", "locale": "en", **fields}


def test_without_channels_sms_is_used_when_there_is_a_phone() -> None:
    job = sample_job(customer=customer(phone="(312) 555-0142", email="m@example.com"))
    found = step(None, updated(0, **job))
    assert {n.channel for n in found} == {"sms"}
    assert found[0].payload["fallback_email"] == "m@example.com"


def test_without_channels_or_phone_email_is_used() -> None:
    found = step(None, updated(0, **sample_job(customer=customer(email="m@example.com"))))
    assert {n.channel for n in found} == {"email"}


def test_email_only_customers_get_no_sms() -> None:
    job = sample_job(customer=customer(phone="(312) 555-0142", email="m@example.com", channels=["email"]))
    assert {n.channel for n in step(None, updated(0, **job))} == {"email"}


def test_an_unusable_phone_still_gets_an_sms_row_that_falls_back_to_email() -> None:
    job = sample_job(customer=customer(phone="not a phone", email="m@example.com", channels=["sms"]))
    sms = by_channel(step(None, updated(0, **job)))["sms"]
    assert sms.payload["to"] is None
    assert sms.payload["fallback_email"] == "m@example.com"


def test_sms_only_customers_without_a_phone_get_email_where_they_have_one() -> None:
    job = sample_job(customer=customer(email="m@example.com", channels=["sms"]))
    assert {n.channel for n in step(None, updated(0, **job))} == {"email"}


def test_unreachable_customers_get_nothing_until_a_contact_arrives() -> None:
    bare = apply_event(None, status("en_route", 5))
    assert notices(None, bare, NOON, ALL) == []
    found = step(bare, updated(1, customer=customer(phone="(312) 555-0142")))
    # The job was on the way before anyone could be told: it is announced now.
    assert [n.message for n in found] == ["en_route"]


def test_the_locale_travels_with_the_message() -> None:
    job = sample_job(customer=customer(phone="(312) 555-0142", locale="es-MX"))
    assert step(None, updated(0, **job))[0].payload["locale"] == "es-MX"


# -- quiet hours ------------------------------------------------------------------------


def local(y: int, m: int, d: int, hh: int, mm: int = 0, tz: ZoneInfo = CHICAGO) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=tz).astimezone(dt.UTC)


def test_quiet_hours_across_midnight_and_within_a_day() -> None:
    night = (time(21, 0), time(8, 0))
    assert in_quiet_hours(local(2030, 3, 1, 23), CHICAGO, night)
    assert in_quiet_hours(local(2030, 3, 1, 7, 59), CHICAGO, night)
    assert not in_quiet_hours(local(2030, 3, 1, 8), CHICAGO, night)
    assert not in_quiet_hours(local(2030, 3, 1, 20, 59), CHICAGO, night)
    lunch = (time(12, 0), time(13, 0))
    assert in_quiet_hours(local(2030, 3, 1, 12, 30), CHICAGO, lunch)
    assert not in_quiet_hours(local(2030, 3, 1, 13), CHICAGO, lunch)
    assert not in_quiet_hours(local(2030, 3, 1, 23), CHICAGO, None)


def test_the_end_of_quiet_hours_is_local_and_crosses_daylight_saving_time() -> None:
    night = (time(21, 0), time(8, 0))
    # 22:00 CST on Saturday 2025-03-08; clocks spring forward overnight: 08:00 CDT is 13:00 UTC.
    assert end_of_quiet_hours(local(2025, 3, 8, 22), CHICAGO, night) == dt.datetime(2025, 3, 9, 13, tzinfo=dt.UTC)
    # 02:30 on the night clocks fall back (2025-11-02): 08:00 CST is 14:00 UTC.
    small_hours = dt.datetime(2025, 11, 2, 7, 30, tzinfo=dt.UTC)
    assert end_of_quiet_hours(small_hours, CHICAGO, night) == dt.datetime(2025, 11, 2, 14, tzinfo=dt.UTC)
    noon = local(2025, 3, 8, 12)
    assert end_of_quiet_hours(noon, CHICAGO, night) == noon


def night_job(**changes: Any) -> Job:
    # A visit the day after tomorrow, so "the morning" comes before it.
    changes.setdefault("window", {"start": "2025-03-10T09:00:00-05:00", "end": "2025-03-10T11:00:00-05:00"})
    return apply_event(None, updated(0, **sample_job(**changes)))


LATE = local(2025, 3, 8, 22)  # 22:00 CST on the Saturday before clocks spring forward
MORNING = "2025-03-09T13:00:00.000000Z"  # 08:00 CDT


def test_a_rating_request_at_night_waits_for_the_morning_across_dst() -> None:
    found = by_channel(step(night_job(), status("completed", 5), now=LATE, policy=QUIET))
    assert found["sms"].not_before == MORNING
    assert found["sms"].payload["due"] == MORNING
    assert found["email"].not_before is None  # email waits in an inbox, not on a nightstand


@pytest.mark.parametrize("value", ["en_route", "cancelled"])
def test_urgent_messages_are_never_held_back(value: str) -> None:
    found = by_channel(step(night_job(), status(value, 5), now=LATE, policy=QUIET))
    assert found["sms"].not_before is None


def test_polite_messages_wait_unless_the_visit_comes_first() -> None:
    held = by_channel(step(night_job(), status("on_hold", 5), now=LATE, policy=QUIET))
    assert held["sms"].not_before == MORNING
    early = {"start": "2025-03-09T07:00:00-05:00", "end": "2025-03-09T09:00:00-05:00"}
    soon = by_channel(step(night_job(window=early), status("on_hold", 5), now=LATE, policy=QUIET))
    assert soon["sms"].not_before is None


def test_a_booking_made_at_night_is_confirmed_in_the_morning() -> None:
    found = step(
        None,
        updated(0, **sample_job(window={"start": "2025-03-10T09:00:00-05:00", "end": "2025-03-10T11:00:00-05:00"})),
        now=LATE,
        policy=QUIET,
    )
    confirmed = by_channel([n for n in found if n.message == "booking_confirmed"])
    assert confirmed["sms"].not_before == MORNING


# -- dedup under duplication and reordering (properties) -------------------------------

WINDOWS = [
    {"start": "2030-03-03T09:00:00-06:00", "end": "2030-03-03T11:00:00-06:00"},
    {"start": "2030-03-04T13:00:00-06:00", "end": "2030-03-04T15:00:00-06:00"},
]
TECHS = [{"id": "T-7", "name": "Dana Whitfield"}, {"id": "T-9", "name": "Sam Ortiz"}]
CONTACT = {"name": "Maria Lopez", "phone": "(312) 555-0142", "email": "maria@example.com", "channels": ["sms", "email"]}


@st.composite
def event_sets(draw: st.DrawFn) -> list[FieldEvent]:
    """Distinct events of one job, each at its own minute (timestamps never tie)."""
    minutes = draw(st.lists(st.integers(0, 500), min_size=2, max_size=7, unique=True))
    events = []
    for index, minute in enumerate(minutes):
        choice = draw(st.sampled_from(["status", "window", "technician"]))
        if choice == "status":
            value = draw(
                st.sampled_from(["scheduled", "dispatched", "en_route", "in_progress", "completed", "on_hold"])
            )
            events.append(ev("job.status_changed", {"job_id": "WO-1", "status": value}, minute, f"s{index}"))
        elif choice == "window":
            window = draw(st.sampled_from(WINDOWS))
            events.append(ev("job.updated", {"job": {"id": "WO-1", "window": window}}, minute, f"w{index}"))
        else:
            tech = draw(st.sampled_from(TECHS))
            events.append(ev("job.updated", {"job": {"id": "WO-1", "technician": tech}}, minute, f"t{index}"))
    first = ev("job.updated", {"job": {"id": "WO-1", "customer": CONTACT, "timezone": "America/Chicago"}}, -1, "c")
    return [first, *events]


def run(events: list[FieldEvent]) -> tuple[Job, list[str]]:
    job: Job | None = None
    keys: list[str] = []
    for event in events:
        after = apply_event(job, event)
        keys.extend(n.dedup_key for n in notices(job, after, NOON, ALL))
        job = after
    assert job is not None
    return job, keys


@settings(max_examples=150, deadline=None)
@given(events=event_sets(), data=st.data())
def test_duplicates_anywhere_add_no_message(events: list[FieldEvent], data: st.DataObject) -> None:
    order = data.draw(st.permutations(events))
    repeats = data.draw(st.lists(st.sampled_from(order), max_size=6))
    with_repeats = list(order)
    for repeat in repeats:
        position = data.draw(st.integers(with_repeats.index(repeat) + 1, len(with_repeats)))
        with_repeats.insert(position, repeat)
    assert run(with_repeats)[1] == run(order)[1]


@settings(max_examples=150, deadline=None)
@given(events=event_sets(), data=st.data())
def test_no_order_of_events_sends_one_message_twice(events: list[FieldEvent], data: st.DataObject) -> None:
    order = data.draw(st.permutations(events))
    job, keys = run(order)
    # Reminders are keyed by the visit they are for: queued again when a job is re-booked for
    # the same start, the store's "on conflict do nothing" keeps the first. Every other key is
    # new each time it is produced.
    others = [key for key in keys if ":reminder:" not in key]
    assert len(others) == len(set(others))
    # Every order ends in the same job, and the message about where it ended was sent.
    assert job.to_dict() == run(sorted(events, key=lambda e: e.stamp))[0].to_dict()
    sent = {key.split(":")[1] + ":" + key.rsplit(":", 1)[1] for key in keys}
    for notice in notices(None, job, NOON, ALL):
        if notice.message in {"en_route", "completed", "on_hold", "booking_confirmed"}:
            assert f"{notice.message}:{notice.channel}" in sent


@settings(max_examples=100, deadline=None)
@given(events=event_sets(), data=st.data())
def test_only_the_newest_status_is_ever_announced(events: list[FieldEvent], data: st.DataObject) -> None:
    order = data.draw(st.permutations(events))
    job: Job | None = None
    for event in order:
        after = apply_event(job, event)
        for notice in notices(job, after, NOON, ALL):
            if notice.message in {"en_route", "completed", "on_hold"}:
                assert notice.message == after.status
                # A status is told once, when it changes (or when the customer first becomes reachable).
                assert job is None or job.status != after.status or not reachable(job)
        job = after


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("maria@example.com", "maria@example.com"),
        ("maria@example.com, attacker@evil.example", None),
        ("maria@example.com; attacker@evil.example", None),
        ("Maria <maria@example.com>", None),
        ("maria@example.com\r\nBcc: attacker@evil.example", None),
        (" maria@example.com", None),
        ("maria@localhost", None),
        ("no address", None),
        (None, None),
    ],
)
def test_a_customer_email_is_exactly_one_address(raw: str | None, expected: str | None) -> None:
    assert single_address(raw) == expected
