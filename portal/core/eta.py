"""The ETA: an honest, steady estimate of when the technician arrives. Pure: no clock, no I/O.

How the estimate is made, from the job's last few ``technician.location`` pings (its trail):

- Road distance is the great-circle distance from the newest ping to the job's address times
  a detour factor (roads are rarely straight).
- Speed is measured over the trail (the path driven divided by the time it took), or, with
  only one recent ping, the speed the device reported. That measurement is blended with an
  urban default speed, so one fast stretch or one long red light does not swing the estimate.
- The arrival is the newest ping's time plus road distance over that speed.

Smoothing comes from the speed: it is an average over minutes of driving, pulled toward the
city average, instead of the speed of a single reading. With a steady speed the estimate
therefore only counts down as the technician approaches (the property tests check this).

With road routing (CONTRACT §10, ``portal/core/route.py``) and a position on the known route,
the arrival is the newest ping's time plus the road time left along that route instead.

A ``job.eta`` from the field system wins while it is fresh. An estimate from a position that
has not been updated for a while is marked stale; pages show it as such, never as live.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from portal.core import route as road
from portal.core.calibration import DEFAULT_MIN_ARRIVALS, Calibration, adjusted, calibrated_range
from portal.core.jobs import Job, iso_utc, parse_iso

EARTH_RADIUS_M = 6_371_000.0
DETOUR_FACTOR = 1.35  # roads are rarely straight; 1.3-1.4 is typical for city grids
URBAN_SPEED_KMH = 30.0  # average urban driving speed including stops and lights
KMH = 1000 / 3600  # metres per second in one km/h
MIN_MOVING_SPEED_MPS = 2.0  # below this a reported speed says "stopped at a light", not "slow"
MIN_TRAIL_SECONDS = 20.0  # a shorter trail is too short a sample to measure a speed over
OBSERVED_WEIGHT = 0.6  # how far the measured speed pulls from the urban default (0: ignore it)
MIN_OBSERVED_SPEED_MPS = 1.0  # a crawl in traffic still arrives: never divide by a stop
MAX_OBSERVED_SPEED_MPS = 45.0  # about 160 km/h: faster is a GPS jump, not driving
FIELD_ETA_FRESH = timedelta(minutes=30)  # a field-system ETA older than this is no longer trusted
STALE_AFTER = timedelta(minutes=3)  # devices ping every 10-60 s; three minutes of silence is lost signal
ARRIVAL_RADIUS_M = 150.0  # about a city block: the van is turning into the street
RANGE_FRACTION = 0.2  # a driving-time estimate is rarely better than a fifth of the time left
MIN_RANGE = timedelta(minutes=2)  # the range never narrows below a couple of minutes either side


@dataclass(frozen=True)
class EtaConfig:
    """The operator's tuning (``PORTAL_ETA_*``, ``PORTAL_ARRIVAL_RADIUS_M``)."""

    detour_factor: float = DETOUR_FACTOR
    urban_speed_mps: float = URBAN_SPEED_KMH * KMH
    stale_after: timedelta = STALE_AFTER
    arrival_radius_m: float = ARRIVAL_RADIUS_M
    field_eta_fresh: timedelta = FIELD_ETA_FRESH
    # Ranges measured from past arrivals (portal/core/calibration.py), used once there are enough.
    calibration: Calibration | None = None
    calibration_min_arrivals: int = DEFAULT_MIN_ARRIVALS


DEFAULT_CONFIG = EtaConfig()


@dataclass(frozen=True)
class Estimate:
    """The best ETA we have, and what it rests on."""

    at: datetime
    source: str  # "field" (the field system's own ETA), "route" (road time left) or "position" (straight line)
    updated_at: datetime  # when what it rests on was reported
    stale: bool
    distance_m: float | None = None  # straight-line distance from the last position
    # The estimator's own answer when ``at`` was moved by what past arrivals measured (calibration).
    estimated: datetime | None = None


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _ping_time(ping: dict[str, Any]) -> datetime:
    return parse_iso(ping["order"][0] if "order" in ping else ping["recorded_at"])


def measured_speed(trail: list[dict[str, Any]]) -> float | None:
    """Metres per second over the trail (newest first), or the reported speed of a lone ping."""
    if len(trail) >= 2:
        span = (_ping_time(trail[0]) - _ping_time(trail[-1])).total_seconds()
        if span >= MIN_TRAIL_SECONDS:
            path = sum(distance_m(a["lat"], a["lon"], b["lat"], b["lon"]) for a, b in itertools.pairwise(trail))
            return path / span
    reported = trail[0].get("speed_mps") if trail else None
    if reported is None or reported < MIN_MOVING_SPEED_MPS:
        return None
    return float(reported)


def travel_speed(trail: list[dict[str, Any]], config: EtaConfig = DEFAULT_CONFIG) -> float:
    """The speed to expect for the rest of the trip: measured speed blended with the urban default."""
    measured = measured_speed(trail)
    if measured is None:
        return config.urban_speed_mps
    measured = min(MAX_OBSERVED_SPEED_MPS, max(MIN_OBSERVED_SPEED_MPS, measured))
    return OBSERVED_WEIGHT * measured + (1 - OBSERVED_WEIGHT) * config.urban_speed_mps


def from_position(
    location: dict[str, Any], lat: float, lon: float, now: datetime, config: EtaConfig = DEFAULT_CONFIG
) -> Estimate:
    """Our estimate for a technician last seen at ``location`` driving to (lat, lon)."""
    seen = parse_iso(location["recorded_at"])
    straight = distance_m(location["lat"], location["lon"], lat, lon)
    trail = location.get("trail") or [location]
    travel = timedelta(seconds=straight * config.detour_factor / travel_speed(trail, config))
    stale = now - seen > config.stale_after
    return Estimate(at=seen + travel, source="position", updated_at=seen, stale=stale, distance_m=straight)


def from_route(
    route: dict[str, Any], location: dict[str, Any], lat: float, lon: float, now: datetime, config: EtaConfig
) -> Estimate | None:
    """The road estimate from a position on the known route, or None when it is off the route.

    The engine's own duration: engines without live traffic are optimistic in town, and the
    calibration (``_adjusted``) scales it by the ratio observed on past arrivals.
    """
    left = road.seconds_left(route, float(location["lat"]), float(location["lon"]))
    if left is None:
        return None
    seen = parse_iso(location["recorded_at"])
    straight = distance_m(location["lat"], location["lon"], lat, lon)
    stale = now - seen > config.stale_after
    at = seen + timedelta(seconds=left)
    return Estimate(at=at, source="route", updated_at=seen, stale=stale, distance_m=straight)


def estimate(
    field_eta: dict[str, Any] | None,
    location: dict[str, Any] | None,
    address: dict[str, Any],
    now: datetime,
    config: EtaConfig = DEFAULT_CONFIG,
    route: dict[str, Any] | None = None,
) -> Estimate | None:
    """The best ETA: a fresh field-system ETA, else the road estimate, else the straight-line one,
    else a stale field ETA, else None."""
    field = _field(field_eta, now, config)
    if field is not None and not field.stale:
        return _with_distance(field, location, address, now, config)
    if location and address.get("lat") is not None and address.get("lon") is not None:
        lat, lon = float(address["lat"]), float(address["lon"])
        on_road = from_route(route, location, lat, lon, now, config) if route else None
        return _adjusted(on_road or from_position(location, lat, lon, now, config), now, config)
    return field


def _adjusted(found: Estimate, now: datetime, config: EtaConfig) -> Estimate:
    """The estimate moved by how past ones of its kind turned out (``core/calibration.py``), if measured."""
    if config.calibration is None:
        return found
    at = adjusted(config.calibration, found.at, now, found.source, config.calibration_min_arrivals)
    if at == found.at:
        return found
    return Estimate(at, found.source, found.updated_at, found.stale, found.distance_m, estimated=found.at)


def for_job(job: Job, now: datetime, config: EtaConfig = DEFAULT_CONFIG) -> Estimate | None:
    """The best ETA for ``job``, with its route for this drive when there is one.

    The last ``REMEMBERED`` answers are kept: one location ping asks for the same estimate up to
    four times (its marks, its ETA log, the page's view before and after), from equal inputs.
    A job's values are replaced, never changed in place (``Job.copy``), so inputs that are the
    same objects compare at once, and any that differ are worked out again.
    """
    global _recent
    inputs = (job.values.get("eta"), job.location, job.address, road.current(job))
    recent = _recent  # one read: another thread may replace it meanwhile, never change it
    for seen_now, seen_config, seen_inputs, found in recent:
        if seen_now == now and seen_config is config and seen_inputs == inputs:
            return found
    field_eta, location, address, route = inputs
    found = estimate(field_eta, location, address, now, config, route)
    _recent = ((now, config, inputs, found), *recent[: REMEMBERED - 1])
    return found


REMEMBERED = 2  # the estimates before and after a change
_recent: tuple[tuple[datetime, EtaConfig, tuple[Any, ...], Estimate | None], ...] = ()


def _field(field_eta: dict[str, Any] | None, now: datetime, config: EtaConfig) -> Estimate | None:
    if not field_eta:
        return None
    reported = parse_iso(field_eta["reported_at"])
    stale = now - reported > config.field_eta_fresh
    return Estimate(at=parse_iso(field_eta["at"]), source="field", updated_at=reported, stale=stale)


def _with_distance(
    found: Estimate, location: dict[str, Any] | None, address: dict[str, Any], now: datetime, config: EtaConfig
) -> Estimate:
    """A field ETA with the distance from a live position (a stale one says nothing of now)."""
    if not location or address.get("lat") is None or address.get("lon") is None:
        return found
    if now - parse_iso(location["recorded_at"]) > config.stale_after:
        return found
    straight = distance_m(location["lat"], location["lon"], float(address["lat"]), float(address["lon"]))
    return Estimate(found.at, found.source, found.updated_at, found.stale, straight)


def current_eta(
    field_eta: dict[str, Any] | None,
    location: dict[str, Any] | None,
    address: dict[str, Any],
    now: datetime,
    config: EtaConfig = DEFAULT_CONFIG,
) -> datetime | None:
    """When the technician should arrive, by the best estimate we have, or None."""
    found = estimate(field_eta, location, address, now, config)
    return found.at if found else None


def stale_after(found: Estimate, config: EtaConfig = DEFAULT_CONFIG) -> timedelta:
    """How long after ``updated_at`` the estimate stops being live news."""
    return config.field_eta_fresh if found.source == "field" else config.stale_after


def minutes_left(at: datetime, now: datetime) -> int:
    return max(0, round((at - now).total_seconds() / 60))


def arrival_range(at: datetime, now: datetime) -> tuple[datetime, datetime]:
    """A range around ``at`` that widens with the time left, in whole minutes, never before now."""
    half = max(MIN_RANGE, (at - now) * RANGE_FRACTION)
    start = max(now, at - half)
    end = max(at, now) + half
    return _floor_minute(start), _ceil_minute(end)


def shown_range(found: Estimate, now: datetime, config: EtaConfig = DEFAULT_CONFIG) -> tuple[datetime, datetime]:
    """The range a page shows: measured from past arrivals once there are enough, else the rule of thumb."""
    if config.calibration is not None:
        estimated = found.estimated or found.at
        minimum = config.calibration_min_arrivals
        measured = calibrated_range(config.calibration, estimated, now, found.source, minimum, shown=found.at)
        if measured is not None:
            return measured
    return arrival_range(found.at, now)


HELD = "portal.eta_held"  # what a page last showed of the portal's own estimate: trip, source, minutes, range
HELD_SOURCES = frozenset({"route", "position"})  # the field system's ETA is shown as given


def steadied(
    found: Estimate, span: tuple[datetime, datetime], held: dict[str, Any] | None, trip: str, now: datetime
) -> tuple[Estimate, tuple[datetime, datetime]]:
    """The estimate and range to show, given what was shown before (``held``) on this trip.

    The portal's own estimates wobble: a red light lowers the measured speed and the minutes
    go up by one or two, then down again. A customer reads a rise as bad news, so while a new
    estimate stays inside the range shown before, the minutes shown pause instead of rising
    (the estimate shown is ``now`` plus the minutes shown before; the range, which is the
    promise, is the new one, widened to hold it). Only an estimate that leaves that range
    makes the minutes go up, and then by no more than that range's width at a time: news of a
    jam shows within a few pings, without one update that breaks the promise by more than its
    own width. ``estimated`` keeps the estimator's own answer, so calibration samples measure
    the estimator, not the pause.
    """
    if found.stale or found.source not in HELD_SOURCES or not isinstance(held, dict):
        return found, span
    if held.get("trip") != trip or held.get("source") != found.source:
        return found, span
    try:
        minutes, end = int(held["minutes"]), parse_iso(str(held["end"]))
    except (KeyError, TypeError, ValueError):
        return found, span
    if minutes_left(found.at, now) <= minutes:
        return found, span
    if found.at <= end:
        at = now + timedelta(minutes=minutes)  # still inside the range shown: pause
    else:
        try:
            width = end - parse_iso(str(held["start"]))
        except (KeyError, TypeError, ValueError):
            return found, span
        steps = max(1, int(width.total_seconds() // 60))  # whole minutes, at least one
        if minutes_left(found.at, now) <= minutes + steps:
            return found, span
        at = now + timedelta(minutes=minutes + steps)  # up by the range's width, not further
    kept = Estimate(at, found.source, found.updated_at, found.stale, found.distance_m, found.estimated or found.at)
    return kept, (min(span[0], _floor_minute(at)), max(span[1], _ceil_minute(at)))


def held_of(found: Estimate, span: tuple[datetime, datetime], trip: str, now: datetime) -> dict[str, Any] | None:
    """What ``steadied`` needs next time, for the portal's own live estimates; None for others."""
    if found.stale or found.source not in HELD_SOURCES:
        return None
    minutes = minutes_left(found.at, now)
    return {
        "trip": trip,
        "source": found.source,
        "minutes": minutes,
        "start": iso_utc(span[0]),
        "end": iso_utc(span[1]),
    }


def trip_of(job: Job) -> str:
    """One drive to the customer: the event time of the status it belongs to."""
    stamp = job.stamps.get("status")
    return stamp[0] if stamp else "-"


def displayed(
    job: Job, now: datetime, config: EtaConfig = DEFAULT_CONFIG
) -> tuple[Estimate, tuple[datetime, datetime]] | None:
    """The estimate and range a page shows for ``job`` now (``core/public.py``, ``core/eta_log.py``)."""
    found = for_job(job, now, config)
    if found is None:
        return None
    return steadied(found, shown_range(found, now, config), job.values.get(HELD), trip_of(job), now)


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _ceil_minute(moment: datetime) -> datetime:
    floor = _floor_minute(moment)
    return floor if floor == moment else floor + timedelta(minutes=1)


def arriving(found: Estimate | None, config: EtaConfig = DEFAULT_CONFIG) -> bool:
    """Whether a live position puts the technician within the arrival radius."""
    return (
        found is not None
        and not found.stale
        and found.distance_m is not None
        and (found.distance_m <= config.arrival_radius_m)
    )


def late(found: Estimate | None, window: dict[str, Any] | None) -> bool:
    """Whether the estimate falls after the end of the promised window."""
    if found is None or not window:
        return False
    return found.at > parse_iso(str(window["end"]))
