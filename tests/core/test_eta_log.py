"""The record of arrival ranges shown while a technician drives, and how an arrival is judged by it."""

from __future__ import annotations

import datetime as dt

from portal.core import calibration as cal
from portal.core import eta_log, route
from portal.core.eta import DEFAULT_CONFIG, EtaConfig, arrival_range
from portal.core.eta_log import ETA_LOG, observe
from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc, parse_iso
from portal.core.public import public_state
from portal.core.slots import SlotPolicy

T0 = dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)
TRIP = iso_utc(T0 - dt.timedelta(minutes=1))


def en_route(eta_at: dt.datetime, reported: dt.datetime = T0) -> Job:
    """A job on the way whose field system reports an ETA (a field ETA keeps the numbers exact)."""
    job = Job(id="J")
    job.values.update({"status": "en_route", "eta": {"at": iso_utc(eta_at), "reported_at": iso_utc(reported)}})
    job.stamps["status"] = (TRIP, "w0")
    return job


def leads(job: Job) -> list[object]:
    return [entry["lead"] for entry in job.values[ETA_LOG]["shown"]]


def test_first_estimate_is_recorded_with_its_range() -> None:
    job = observe(en_route(T0 + dt.timedelta(minutes=40)), T0)
    (entry,) = job.values[ETA_LOG]["shown"]
    assert entry == {
        "lead": "first",
        "at": iso_utc(T0 + dt.timedelta(minutes=40)),
        "start": iso_utc(T0 + dt.timedelta(minutes=32)),
        "end": iso_utc(T0 + dt.timedelta(minutes=48)),
        "source": "field",
        "recorded_at": iso_utc(T0),
    }
    assert job.values[ETA_LOG]["trip"] == TRIP


def test_each_lead_is_kept_once_as_the_drive_counts_down() -> None:
    arrival = T0 + dt.timedelta(minutes=40)
    job = en_route(arrival)
    for minute in range(0, 40, 2):
        now = T0 + dt.timedelta(minutes=minute)
        job.values["eta"] = {"at": iso_utc(arrival), "reported_at": iso_utc(now)}
        job = observe(job, now)
    assert leads(job) == ["first", 30, 20, 15, 10, 5]
    by_lead = {e["lead"]: e for e in job.values[ETA_LOG]["shown"]}
    assert by_lead[15]["recorded_at"] == iso_utc(T0 + dt.timedelta(minutes=26))  # first time 15 or fewer were left
    again = observe(job, T0 + dt.timedelta(minutes=39))
    assert again is job  # nothing new to record: the job is returned unchanged


def test_a_short_trip_records_every_lead_it_is_already_inside() -> None:
    job = observe(en_route(T0 + dt.timedelta(minutes=10)), T0)
    assert leads(job) == ["first", 30, 20, 15, 10]


def test_stale_or_missing_estimates_and_other_statuses_record_nothing() -> None:
    stale = en_route(T0 + dt.timedelta(minutes=20), reported=T0 - dt.timedelta(hours=1))
    assert observe(stale, T0) is stale
    no_eta = Job(id="J", values={"status": "en_route"})
    assert observe(no_eta, T0) is no_eta
    scheduled = en_route(T0 + dt.timedelta(minutes=20))
    scheduled.values["status"] = "scheduled"
    assert observe(scheduled, T0) is scheduled


def test_a_new_trip_starts_a_new_log() -> None:
    job = observe(en_route(T0 + dt.timedelta(minutes=10)), T0)
    job.stamps["status"] = (iso_utc(T0 + dt.timedelta(minutes=5)), "w9")
    job.values["eta"] = {"at": iso_utc(T0 + dt.timedelta(minutes=50)), "reported_at": iso_utc(T0)}
    later = observe(job, T0 + dt.timedelta(minutes=6))
    assert leads(later) == ["first"]
    assert later.values[ETA_LOG]["trip"] == iso_utc(T0 + dt.timedelta(minutes=5))


def test_arrival_is_judged_by_the_fifteen_minute_range() -> None:
    arrival = T0 + dt.timedelta(minutes=40)
    job = en_route(arrival)
    for minute in (0, 25):
        now = T0 + dt.timedelta(minutes=minute)
        job.values["eta"] = {"at": iso_utc(arrival), "reported_at": iso_utc(now)}
        job = observe(job, now)
    # shown at minute 25: at 15:40, range 15:37-15:43
    log = job.values[ETA_LOG]
    inside = eta_log.judge(log, T0 + dt.timedelta(minutes=43))
    assert inside is not None and inside.within and inside.error_minutes == 3 and inside.lead == "15"
    outside = eta_log.judge(log, T0 + dt.timedelta(minutes=50))
    assert outside is not None and not outside.within and outside.error_minutes == 10


def test_arrival_on_a_trip_shorter_than_fifteen_minutes_uses_the_first_range() -> None:
    log = {"trip": TRIP, "shown": [{"lead": "first", "at": iso_utc(T0), "start": iso_utc(T0), "end": iso_utc(T0)}]}
    judged = eta_log.judge(log, T0)
    assert judged is not None and judged.lead == "first" and judged.within
    assert eta_log.judge(None, T0) is None


def test_arrival_happens_on_the_change_to_in_progress_at_its_event_time() -> None:
    arrival = T0 + dt.timedelta(minutes=12)
    before = observe(en_route(arrival), T0)
    event = FieldEvent("w1", "job.status_changed", arrival, {"job_id": "J", "status": "in_progress"})
    after = apply_event(before, event)
    judged = eta_log.arrival(before, after)
    assert judged is not None and judged.arrived_at == arrival and judged.within and judged.error_minutes == 0
    assert eta_log.arrival(after, after) is None  # already on site: not a new arrival


def driving(minutes_of_road: float) -> Job:
    """A job on the way with a live position, an address 5 km north and a road route between them."""
    job = Job(id="J")
    job.values.update({"status": "en_route", "address.lat": 41.95, "address.lon": -87.65})
    job.stamps["status"] = (TRIP, "w0")
    job.location = {"lat": 41.905, "lon": -87.65, "recorded_at": iso_utc(T0)}
    return route.stored(job, [[-87.65, 41.905], [-87.65, 41.95]], minutes_of_road * 60, 5000.0, T0)


def test_the_road_estimate_the_page_shows_is_what_is_recorded() -> None:
    job = observe(driving(25), T0)
    entry = job.values[ETA_LOG]["shown"][0]
    assert entry["source"] == "route"
    assert entry["at"] == iso_utc(T0 + dt.timedelta(minutes=25))
    eta = public_state(job, T0, DEFAULT_CONFIG, SlotPolicy())["eta"]
    assert eta["source"] == "route"


def test_the_calibrated_range_the_page_shows_is_what_is_recorded() -> None:
    # Past route estimates 15 minutes out were from 10% early to 30% late.
    past = [cal.Sample("route", 900, 900 * (-0.1 + 0.4 * i / 99)) for i in range(100)]
    config = EtaConfig(calibration=cal.build(past, arrivals=100))
    job = observe(driving(15), T0, config)
    entry = job.values[ETA_LOG]["shown"][0]
    shown = public_state(job, T0, config, SlotPolicy())["eta"]["range"]
    assert (entry["start"], entry["end"]) == (
        iso_utc(T0 + dt.timedelta(minutes=14)),
        iso_utc(T0 + dt.timedelta(minutes=19)),
    )
    assert parse_iso(shown["start"]) == parse_iso(entry["start"]) and parse_iso(shown["end"]) == parse_iso(entry["end"])
    assert (entry["start"], entry["end"]) != tuple(map(iso_utc, arrival_range(T0 + dt.timedelta(minutes=15), T0)))
    # The road estimate is moved by the median (10% of 15 minutes late); the log keeps both.
    assert entry["at"] == iso_utc(T0 + dt.timedelta(minutes=16.5))
    assert entry["estimated"] == iso_utc(T0 + dt.timedelta(minutes=15))


def test_the_minutes_shown_pause_instead_of_rising_inside_the_range_shown() -> None:
    from portal.core.eta import HELD, Estimate, held_of, minutes_left, steadied

    first = Estimate(T0 + dt.timedelta(minutes=10), "position", T0, stale=False)
    span = (T0 + dt.timedelta(minutes=8), T0 + dt.timedelta(minutes=12))
    held = held_of(first, span, TRIP, T0)
    later = T0 + dt.timedelta(seconds=15)
    wobble = Estimate(T0 + dt.timedelta(minutes=11, seconds=30), "position", later, stale=False, estimated=None)
    shown, (start, end) = steadied(wobble, (later, T0 + dt.timedelta(minutes=14)), held, TRIP, later)
    assert minutes_left(shown.at, later) == 10  # not 11: the new estimate is still inside 8-12
    assert shown.estimated == wobble.at  # calibration still measures the estimator itself
    assert start <= shown.at <= end
    news = Estimate(T0 + dt.timedelta(minutes=13), "position", later, stale=False)
    assert steadied(news, span, held, TRIP, later)[0] == news  # outside the range: the minutes go up
    jam = Estimate(T0 + dt.timedelta(minutes=30), "position", later, stale=False)
    capped, (_, capped_end) = steadied(jam, span, held, TRIP, later)
    assert minutes_left(capped.at, later) == 14  # up by the 4-minute width of 8-12, not by 20
    assert capped.estimated == jam.at and capped.at <= capped_end
    field = Estimate(T0 + dt.timedelta(minutes=11, seconds=30), "field", later, stale=False)
    assert steadied(field, span, held, TRIP, later)[0] == field  # the field system's ETA is shown as given
    assert steadied(wobble, span, held, "another trip", later)[0] == wobble
    # observe keeps what was shown for the next change, and the page shows the same
    job = Job(id="J", values={"status": "en_route", "address.lat": 41.95, "address.lon": -87.65})
    job.stamps["status"] = (TRIP, "w0")
    job.location = {"lat": 41.9, "lon": -87.65, "recorded_at": iso_utc(T0)}
    kept = observe(job, T0)
    assert kept.values[HELD]["source"] == "position"
    assert public_state(kept, T0)["eta"]["minutes"] == kept.values[HELD]["minutes"]
