"""How good the ETA is: simulated drives replayed through the portal's own estimators.

Each trip is a drive along a city road (a zigzag on the street grid) with what makes real ETAs
wrong: a speed that wanders around the free-flow speed, stops at lights, sometimes a traffic jam,
and GPS jitter on every ping. The routing engine's duration is the free-flow time (engines
without live traffic are optimistic). Every ping is fed to the pure estimators the portal uses
(``portal/core/eta.py`` straight-line, ``portal/core/route.py`` road), and each trip is scored:

- median absolute error of the estimate shown 15 minutes before the actual arrival;
- share of arrivals inside the range shown then: the rule of thumb (a fifth of the time left,
  at least 2 minutes, either side), and the calibrated range (``portal/core/calibration.py``),
  built from the estimates recorded at 30/15/5 minutes on separate training trips;
- how often the displayed minutes go up from one ping to the next, and the largest jump up
  against the half-width of the range shown before it.

    .venv/bin/python bench/eta_accuracy.py --trips 400 --seed 1
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.core import calibration as cal
from portal.core import route as road
from portal.core.eta import DEFAULT_CONFIG, EtaConfig, from_position, minutes_left, shown_range
from portal.core.jobs import iso_utc

START = datetime(2030, 3, 3, 14, 0, tzinfo=UTC)
HOME = (41.8868, -87.6574)
M_PER_DEG = road.EARTH_RADIUS_M * math.pi / 180
FREE_FLOW_MPS = 12.0  # what the routing engine assumes on city arterials (about 43 km/h)
PING_SECONDS = 15.0
GPS_SIGMA_M = 8.0
LEADS = (30, 15, 5)


@dataclass
class Trip:
    line: list[tuple[float, float]]  # (lat, lon), start to the door
    pings: list[tuple[float, float, float]]  # (seconds from start, lat, lon) with jitter
    arrival_s: float


def make_trip(rng: random.Random) -> Trip:
    """A zigzag on the grid, 6-16 km, driven with wandering speed, lights and maybe a jam."""
    length = rng.uniform(6000, 16000)
    east = 1 / (M_PER_DEG * math.cos(math.radians(HOME[0])))
    points = [(0.0, 0.0)]  # metres north, east of HOME, built backwards from the door
    left, north = length, True
    while left > 0:
        leg = min(left, rng.uniform(600, 2500))
        y, x = points[-1]
        points.append((y + leg, x) if north else (y, x + leg * rng.choice((-1, 1))))
        left -= leg
        north = not north
    line = [(HOME[0] + y / M_PER_DEG, HOME[1] + x * east) for y, x in reversed(points)]
    cruise = FREE_FLOW_MPS * rng.uniform(0.7, 1.05)  # this driver, this time of day
    jam = (rng.uniform(0.2, 0.8) * length, rng.uniform(500, 2000)) if rng.random() < 0.3 else None
    pings, t, driven, speed = [], 0.0, 0.0, cruise
    lengths = [road.metres(*a, *b) for a, b in itertools.pairwise(line)]
    next_light = rng.uniform(200, 600)
    while driven < length:
        speed = min(FREE_FLOW_MPS * 1.3, max(2.0, speed + rng.gauss(0, 1.0) + 0.2 * (cruise - speed)))
        v = 2.5 if jam and jam[0] <= driven <= jam[0] + jam[1] else speed
        step = 1.0
        if driven >= next_light:
            t += rng.choice((0.0, 0.0, rng.uniform(10, 60)))  # green, green, or a red light
            next_light += rng.uniform(200, 600)
        driven += v * step
        t += step
        if t - (pings[-1][0] if pings else -PING_SECONDS) >= PING_SECONDS:
            lat, lon = _point_at(line, lengths, min(driven, length))
            jitter_n, jitter_e = rng.gauss(0, GPS_SIGMA_M), rng.gauss(0, GPS_SIGMA_M)
            pings.append((t, lat + jitter_n / M_PER_DEG, lon + jitter_e * east))
    return Trip(line, pings, t)


def _point_at(line: list[tuple[float, float]], lengths: list[float], along: float) -> tuple[float, float]:
    for (a, b), leg in zip(itertools.pairwise(line), lengths, strict=False):
        if along <= leg:
            f = along / leg if leg else 0.0
            return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
        along -= leg
    return line[-1]


def estimates(trip: Trip, kind: str, config: EtaConfig) -> list[tuple[datetime, datetime, tuple[datetime, datetime]]]:
    """(now, estimate, shown range) at every ping, by the ``straight`` or ``route`` estimator."""
    coordinates = [[lon, lat] for lat, lon in trip.line]
    length = sum(road.metres(a[1], a[0], b[1], b[0]) for a, b in itertools.pairwise(coordinates))
    route = {"coordinates": coordinates, "duration_s": length / FREE_FLOW_MPS}
    found, trail = [], []
    for t, lat, lon in trip.pings:
        now = START + timedelta(seconds=t)
        ping = {"lat": lat, "lon": lon, "recorded_at": iso_utc(now), "order": [iso_utc(now), "b"]}
        trail = [ping, *trail][:6]
        location = {**ping, "trail": trail}
        est = from_position(location, HOME[0], HOME[1], now, config)
        if kind == "route":
            left = road.seconds_left(route, lat, lon)
            if left is not None:
                est = type(est)(now + timedelta(seconds=left), "route", now, False, est.distance_m)
        found.append((now, est.at, shown_range(est, now, config)))
    return found


def recorded(trip: Trip, series: list[tuple[datetime, datetime, Any]], source: str) -> list[cal.Sample]:
    """What eta_log would record: the first estimate once it says each lead or fewer minutes are left."""
    arrived = START + timedelta(seconds=trip.arrival_s)
    samples, have = [], set()
    for now, at, _ in series:
        for lead in LEADS:
            if lead not in have and at - now <= timedelta(minutes=lead):
                have.add(lead)
                samples.append(cal.Sample(source, (at - now).total_seconds(), (arrived - at).total_seconds()))
    return samples


def score(trips: list[Trip], kind: str, config: EtaConfig) -> dict[str, float]:
    errors, inside, ups, updates, worst = [], 0, 0, 0, 0.0
    for trip in trips:
        arrived = START + timedelta(seconds=trip.arrival_s)
        series = estimates(trip, kind, config)
        at15 = next(((n, a, r) for n, a, r in series if arrived - n <= timedelta(minutes=15)), None)
        if at15 is None:
            continue
        _, at, (start, end) = at15
        errors.append(abs((arrived - at).total_seconds()) / 60)
        inside += start <= arrived <= end
        for (n1, a1, r1), (n2, a2, _) in itertools.pairwise(series):
            before, after = minutes_left(a1, n1), minutes_left(a2, n2)
            updates += 1
            if after > before:
                ups += 1
                half = (r1[1] - r1[0]).total_seconds() / 120
                worst = max(worst, (after - before) / max(half, 1e-9))
    return {
        "median_abs_error_min": statistics.median(errors),
        "inside": inside / len(errors),
        "minutes_up": ups / updates,
        "worst_up_vs_half_range": worst,
        "trips": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trips", type=int, default=400, help="trips scored (as many again train the calibration)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    training = [make_trip(rng) for _ in range(args.trips)]
    testing = [make_trip(rng) for _ in range(args.trips)]
    rows = []
    for kind, source in (("straight", "position"), ("route", "route")):
        plain = score(testing, kind, DEFAULT_CONFIG)
        samples = [s for trip in training for s in recorded(trip, estimates(trip, kind, DEFAULT_CONFIG), source)]
        table = cal.build(samples, arrivals=len(training))
        calibrated = score(testing, kind, EtaConfig(calibration=table))
        rows.append((kind, "rule of thumb (20%, min 2 min)", plain))
        rows.append((kind, "calibrated 10th-90th", calibrated))
    print(f"{args.trips} trips scored, {args.trips} for calibration, seed {args.seed}")
    print("| estimator | range | median abs error at 15 min | inside range | minutes go up | top rise / half range |")
    print("|---|---|---|---|---|---|")
    for kind, rule, r in rows:
        print(
            f"| {kind} | {rule} | {r['median_abs_error_min']:.1f} min | {r['inside']:.0%} | {r['minutes_up']:.1%}"
            f" of updates | {r['worst_up_vs_half_range']:.2f} |"
        )


if __name__ == "__main__":
    main()
