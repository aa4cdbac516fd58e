"""The slot policy (``core/slots.py``): pure offers, and the page, form and SMS agreeing on them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from twilio.request_validator import RequestValidator

from portal.core.jobs import Job
from portal.core.slots import NO_POLICY, SlotPolicy, offered_slots, policy_slots
from portal.settings import ConfigError, from_env
from tests.fakes.twilio_server import AUTH_TOKEN
from tests.helpers import job_updated, make_settings, post_event, sample_job
from tests.notify.support import call, outbox, portal_of, running

CHICAGO = ZoneInfo("America/Chicago")
MORNING_AND_AFTERNOON = SlotPolicy(((time(9), time(11)), (time(13), time(15))))


def job(**values: object) -> Job:
    return Job(id="WO-1", values={"status": "scheduled", "timezone": "America/Chicago", **values})


def test_slots_start_tomorrow_on_business_days_in_the_jobs_zone() -> None:
    friday_evening = datetime(2030, 3, 1, 23, 30, tzinfo=CHICAGO)  # already Saturday in UTC
    found = policy_slots(MORNING_AND_AFTERNOON, CHICAGO, friday_evening)
    assert found == [
        {"start": "2030-03-04T09:00:00-06:00", "end": "2030-03-04T11:00:00-06:00"},
        {"start": "2030-03-04T13:00:00-06:00", "end": "2030-03-04T15:00:00-06:00"},
        {"start": "2030-03-05T09:00:00-06:00", "end": "2030-03-05T11:00:00-06:00"},
    ]


def test_offsets_follow_daylight_saving_time() -> None:
    # US clocks spring forward on Sunday 2030-03-10: Friday is CST, Monday CDT.
    thursday = datetime(2030, 3, 7, 12, 0, tzinfo=CHICAGO)
    found = policy_slots(SlotPolicy(((time(9), time(11)),)), CHICAGO, thursday)
    assert [s["start"] for s in found] == [
        "2030-03-08T09:00:00-06:00",
        "2030-03-11T09:00:00-05:00",
        "2030-03-12T09:00:00-05:00",
    ]


def test_a_wall_clock_time_skipped_by_dst_is_not_offered() -> None:
    cairo = ZoneInfo("Africa/Cairo")  # Egypt springs forward at 00:00 on the last Friday of April
    wednesday = datetime(2030, 4, 24, 12, 0, tzinfo=cairo)
    found = policy_slots(SlotPolicy(((time(0, 30), time(2)),)), cairo, wednesday)
    assert [s["start"] for s in found] == [
        "2030-04-25T00:30:00+02:00",  # Thursday; Friday 00:30 never happens
        "2030-04-29T00:30:00+03:00",
        "2030-04-30T00:30:00+03:00",
    ]


def test_the_jobs_own_slots_win_and_no_policy_offers_nothing() -> None:
    own = [{"start": "2030-03-04T10:00:00-06:00", "end": "2030-03-04T12:00:00-06:00"}]
    now = datetime(2030, 3, 1, 12, tzinfo=UTC)
    assert offered_slots(job(reschedule_slots=own), now, MORNING_AND_AFTERNOON, CHICAGO) == own
    assert offered_slots(job(), now, NO_POLICY, CHICAGO) == []


def test_the_current_window_is_left_out_and_the_count_kept() -> None:
    window = {"start": "2030-03-04T15:00:00Z", "end": "2030-03-04T17:00:00Z"}  # Monday 9-11 in Chicago
    found = offered_slots(job(window=window), datetime(2030, 3, 1, 12, tzinfo=UTC), MORNING_AND_AFTERNOON, CHICAGO)
    assert [s["start"] for s in found] == [
        "2030-03-04T13:00:00-06:00",
        "2030-03-05T09:00:00-06:00",
        "2030-03-05T13:00:00-06:00",
    ]


def test_the_current_window_is_left_out_of_the_jobs_own_slots_too() -> None:
    current = {"start": "2030-03-04T15:00:00Z", "end": "2030-03-04T17:00:00Z"}  # Monday 9-11 in Chicago
    own = [
        {"start": "2030-03-04T09:00:00-06:00", "end": "2030-03-04T11:00:00-06:00"},
        {"start": "2030-03-05T09:00:00-06:00", "end": "2030-03-05T11:00:00-06:00"},
    ]
    found = offered_slots(
        job(window=current, reschedule_slots=own), datetime(2030, 3, 1, 12, tzinfo=UTC), NO_POLICY, CHICAGO
    )
    assert found == own[1:]


@pytest.mark.parametrize("status", ["en_route", "in_progress", "completed", "cancelled"])
def test_a_visit_under_way_or_over_is_offered_nothing(status: str) -> None:
    moving = Job(id="WO-1", values={"status": status, "timezone": "America/Chicago"})
    assert offered_slots(moving, datetime(2030, 3, 1, tzinfo=UTC), MORNING_AND_AFTERNOON, CHICAGO) == []


def test_the_setting_is_parsed_and_a_bad_one_named(tmp_path: Path) -> None:
    base = {"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}"}
    assert from_env(base).reschedule_slots == ()
    parsed = from_env({**base, "PORTAL_RESCHEDULE_SLOTS": "13:00-15:00, 09:00-11:00"}).reschedule_slots
    assert parsed == ((time(9), time(11)), (time(13), time(15)))
    for bad in ("9-11", "11:00-09:00", "09:00"):
        with pytest.raises(ConfigError) as caught:
            from_env({**base, "PORTAL_RESCHEDULE_SLOTS": bad})
        assert str(caught.value).startswith("PORTAL_RESCHEDULE_SLOTS") and "\n" not in str(caught.value)


def test_page_form_and_sms_offer_the_same_policy_slots(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        public_url="https://portal.example.com",
        twilio_auth_token=AUTH_TOKEN,
        twilio_from="+15005550006",
        notifications=frozenset(),
        reschedule_slots=((time(9), time(11)), (time(13), time(15))),
    )
    with running(settings) as client:
        post_event(client, job_updated(sample_job(reschedule_slots=[])))
        path = call(client, portal_of(client).link_url, "WO-1").removeprefix("https://portal.example.com")
        state = client.get(path + "/state").json()
        assert state["can_reschedule"] is True and len(state["slots"]) == 3
        record = call(client, portal_of(client).store.get_job, "WO-1")
        expected = offered_slots(record.job, datetime.now(UTC), portal_of(client).slot_policy, CHICAGO)
        assert state["slots"] == expected
        params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": "+13125550142", "To": "+15005550006", "Body": "R"}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            "https://portal.example.com/webhooks/twilio/inbound", params
        )
        answer = client.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})
        assert "1)" in answer.text or "1 " in answer.text, answer.text
        page = client.get(path).text
        assert [m for m in re.findall(r'name="slot" value="([^"]+)"', page)] == [s["start"] for s in expected]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        chosen = expected[1]
        sent = client.post(path + "/reschedule", data={"slot": chosen["start"], "csrf_token": token.group(1)})
        assert sent.status_code == 200 and sent.url.path == path
        after = client.get(path + "/state").json()
        assert after["reschedule"]["slot"] == chosen and after["can_reschedule"] is False
        [requested] = [r.payload for r in outbox(client) if r.payload.get("type") == "reschedule.requested"]
        assert requested["data"]["slot"] == chosen
