"""Calibrated ranges: percentiles of past relative errors per source and lead, and when they apply."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from portal.core import calibration as cal
from portal.core.eta import Estimate, EtaConfig, arrival_range, estimate, shown_range
from portal.core.eta_log import ETA_LOG
from portal.core.jobs import FieldEvent, Job, apply_event
from portal.core.tallies import job_tallies

NOW = dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)
AT = NOW + dt.timedelta(minutes=15)


def samples(source: str, lead_min: float, errors_min: list[float]) -> list[cal.Sample]:
    return [cal.Sample(source, lead_min * 60, e * 60) for e in errors_min]


def test_percentiles_interpolate() -> None:
    assert cal.percentile([0.0, 10.0], 0.1) == pytest.approx(1.0)
    assert cal.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)


def test_leads_fall_in_the_nearest_bucket() -> None:
    assert [cal.bucket(m * 60) for m in (1, 7, 11, 13, 22, 26, 90)] == [5, 5, 10, 15, 20, 30, 30]


def test_the_range_covers_the_middle_80_percent_of_past_errors() -> None:
    # At 15 minutes out, route estimates were from 3 minutes early to 6 late, evenly.
    table = cal.build(samples("route", 15, [-3 + 9 * i / 99 for i in range(100)]), arrivals=100)
    start, end = cal.calibrated_range(table, AT, NOW, "route", 50) or (None, None)
    assert start == AT - dt.timedelta(minutes=2)  # 2.1 minutes early, to the nearest whole minute
    assert end == AT + dt.timedelta(minutes=5)  # 5.1 minutes late, to the nearest whole minute
    assert cal.calibrated_range(table, AT, NOW, "position", 50) is None  # no samples for that source
    far = NOW + dt.timedelta(minutes=30)
    assert cal.calibrated_range(table, far, NOW, "route", 50) is None  # nor for that lead


def test_errors_scale_with_the_time_left() -> None:
    table = cal.build(samples("route", 12, [-1.2, 2.4] * 20), arrivals=60)  # -10% .. +20% of the lead
    start, end = cal.calibrated_range(table, NOW + dt.timedelta(minutes=18), NOW, "route", 50) or (None, None)
    assert start is not None and end is not None
    assert (end - start) > dt.timedelta(minutes=4)  # 18 minutes out: wider than the 3.6 minutes at 12


def test_before_enough_arrivals_the_rule_of_thumb_stands() -> None:
    table = cal.build(samples("route", 15, [0.0] * 40), arrivals=49)
    found = Estimate(AT, "route", NOW, stale=False)
    config = EtaConfig(calibration=table, calibration_min_arrivals=50)
    assert shown_range(found, NOW, config) == arrival_range(AT, NOW)
    ready = EtaConfig(calibration=cal.build(samples("route", 15, [0.0] * 40), arrivals=50))
    assert shown_range(found, NOW, ready) == (AT, AT)  # never wrong so far: the range is the minute itself
    too_few = cal.build(samples("route", 15, [0.0] * (cal.MIN_SAMPLES_PER_CELL - 1)), arrivals=500)
    assert shown_range(found, NOW, EtaConfig(calibration=too_few)) == arrival_range(AT, NOW)


def test_a_range_never_starts_before_now() -> None:
    table = cal.build(samples("position", 5, [-10.0] * 30 + [1.0] * 30), arrivals=60)
    soon = NOW + dt.timedelta(minutes=4)
    start, _ = cal.calibrated_range(table, soon, NOW, "position", 50) or (None, None)
    assert start == NOW


def test_held_out_arrivals_fall_inside_about_80_percent_of_the_time() -> None:
    rng = random.Random(7)
    past = [cal.Sample("route", 900, rng.gauss(60, 120)) for _ in range(400)]
    table = cal.build(past, arrivals=400)
    inside = 0
    for _ in range(2000):
        at = AT + dt.timedelta(seconds=rng.uniform(-30, 30))  # estimates fall anywhere in a minute
        arrival = at + dt.timedelta(seconds=rng.gauss(60, 120))
        start, end = cal.calibrated_range(table, at, NOW, "route", 50) or (NOW, NOW)
        inside += start <= arrival <= end
    # Whole minutes, rounded to the nearest: widening each end outwards made this about 87%.
    assert 0.76 <= inside / 2000 <= 0.84


def test_samples_come_from_the_recorded_ranges() -> None:
    log = {
        "trip": "t",
        "shown": [
            {
                "lead": 15,
                "at": "2030-03-03T15:15:00+00:00",
                "start": "",
                "end": "",
                "source": "route",
                "recorded_at": "2030-03-03T15:00:00+00:00",
            },
            {
                "lead": 5,
                "at": "2030-03-03T15:17:00+00:00",
                "start": "",
                "end": "",
                "source": "route",
                "recorded_at": "2030-03-03T15:12:00+00:00",
            },
        ],
    }
    found = cal.samples_of(log, dt.datetime(2030, 3, 3, 15, 18, tzinfo=dt.UTC))
    assert found == [cal.Sample("route", 900, 180), cal.Sample("route", 300, 60)]
    assert cal.samples_of(None, NOW) == []


def test_the_table_comes_back_from_the_counters_each_arrival_adds() -> None:
    rng = random.Random(3)
    past = [cal.Sample("route", rng.uniform(800, 1000), rng.gauss(60, 120)) for _ in range(300)]
    past += [cal.Sample("position", rng.uniform(200, 330), rng.gauss(0, 60)) for _ in range(300)]
    totals: dict[str, float] = {"arrivals": 300, "eta_within": 250, "jobs": 400}
    for sample in past:
        name = cal.tally_name(sample)
        assert name is not None
        totals[name] = totals.get(name, 0) + 1
    table = cal.from_tallies(totals)
    direct = cal.build(past, arrivals=300)
    assert table.arrivals == 300 and set(table.cells) == {("route", 15), ("position", 5)}
    for key, cell in direct.cells.items():
        assert table.cells[key] == pytest.approx(cell, abs=cal.RATIO_STEP)
    assert cal.from_tallies({"arrivals": 300}).cells == {}
    odd = {"arrivals": 60, "eta_ratio.x": 5, "eta_ratio.route.15.a": 5, "eta_ratio.mars.15.1": 50}
    assert cal.from_tallies(odd).cells == {}  # names that do not parse are skipped, not fatal
    assert cal.tally_name(cal.Sample("mars", 900, 0)) is None


def test_one_estimate_recorded_for_several_leads_is_one_sample() -> None:
    entry = {"at": "2030-03-03T15:10:00+00:00", "source": "field", "recorded_at": "2030-03-03T15:00:00+00:00"}
    log = {"trip": "t", "shown": [{"lead": lead, **entry} for lead in ("first", 30, 15)] + [{"lead": 5}, "junk"]}
    found = cal.samples_of(log, dt.datetime(2030, 3, 3, 15, 12, tzinfo=dt.UTC))
    assert found == [cal.Sample("field", 600, 120)]


def test_an_arrival_counts_each_estimate_recorded_on_the_way() -> None:
    job = Job(id="J", values={"status": "en_route"})
    job.stamps["status"] = ("2030-03-03T14:59:00.000000Z", "w0")
    shown = {
        "at": "2030-03-03T15:15:00+00:00",
        "start": "2030-03-03T15:12:00+00:00",
        "end": "2030-03-03T15:18:00+00:00",
        "source": "route",
    }
    job.values[ETA_LOG] = {
        "trip": "2030-03-03T14:59:00.000000Z",
        "shown": [
            {"lead": "first", **shown, "recorded_at": "2030-03-03T15:00:00+00:00"},
            {"lead": 15, **shown, "recorded_at": "2030-03-03T15:00:00+00:00"},
            {"lead": 5, **shown, "at": "2030-03-03T15:17:00+00:00", "recorded_at": "2030-03-03T15:12:00+00:00"},
        ],
    }
    arrived = dt.datetime(2030, 3, 3, 15, 18, tzinfo=dt.UTC)
    after = apply_event(job, FieldEvent("w1", "job.status_changed", arrived, {"job_id": "J", "status": "in_progress"}))
    names = {t.name for t in job_tallies(job, after, arrived) if t.name.startswith(cal.RATIO_PREFIX)}
    assert names == {"eta_ratio.route.15.20", "eta_ratio.route.5.20"}  # 3 min late of 15, 1 of 5
    assert not [t for t in job_tallies(after, after, arrived) if t.name.startswith(cal.RATIO_PREFIX)]


def test_own_estimates_are_moved_by_the_median_and_the_range_holds_them() -> None:
    # Route estimates 15 minutes out turned out 10% to 50% late (median 30%: 4.5 minutes).
    table = cal.build(samples("route", 15, [15 * (0.1 + 0.4 * i / 99) for i in range(100)]), arrivals=100)
    config = EtaConfig(calibration=table)
    location = {"lat": 41.905, "lon": -87.65, "recorded_at": NOW.isoformat()}
    route = {"coordinates": [[-87.65, 41.905], [-87.65, 41.95]], "duration_s": 900.0}
    found = estimate(None, location, {"lat": 41.95, "lon": -87.65}, NOW, config, route)
    assert found is not None and found.source == "route"
    assert found.estimated == AT and found.at == AT + dt.timedelta(seconds=0.3 * 900)
    start, end = shown_range(found, NOW, config)
    assert (start, end) == (AT + dt.timedelta(minutes=2), AT + dt.timedelta(minutes=7))  # 1.8 to 6.6 late
    # The field system's ETA is shown as given; its range still holds it.
    field = Estimate(AT, "field", NOW, stale=False)
    moved = cal.adjusted(cal.build(samples("field", 15, [3.0] * 40), arrivals=60), AT, NOW, "field", 50)
    assert moved == AT
    field_table = EtaConfig(calibration=cal.build(samples("field", 15, [3.0] * 40), arrivals=60))
    assert shown_range(field, NOW, field_table) == (AT, AT + dt.timedelta(minutes=3))


def test_between_two_measured_leads_the_percentiles_are_interpolated() -> None:
    past = samples("route", 5, [0.5] * 30) + samples("route", 15, [3.0] * 30)  # 10% and 20% late
    table = cal.build(past, arrivals=60)
    assert cal.quantiles(table, "route", 10 * 60) == pytest.approx((0.15, 0.15, 0.15))
    assert cal.quantiles(table, "route", 20 * 60) == pytest.approx((0.2, 0.2, 0.2))  # nearest: 15
    assert cal.quantiles(table, "route", 30 * 60) is None  # nothing measured near 30 minutes


def test_samples_measure_the_estimate_before_it_was_moved() -> None:
    entry = {
        "lead": 15,
        "at": "2030-03-03T15:15:00+00:00",
        "estimated": "2030-03-03T15:12:00+00:00",
        "source": "route",
        "recorded_at": "2030-03-03T15:00:00+00:00",
    }
    found = cal.samples_of({"trip": "t", "shown": [entry]}, dt.datetime(2030, 3, 3, 15, 16, tzinfo=dt.UTC))
    assert found == [cal.Sample("route", 720, 240)]
