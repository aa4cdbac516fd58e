"""How good the ETA is: simulated drives replayed through the portal's own estimators.

Each trip is a drive along a city road (a zigzag on the street grid) with what makes real ETAs
wrong: a speed that wanders around the free-flow speed, stops at lights, sometimes a traffic jam,
and GPS jitter on every ping. The routing engine's duration is the free-flow time (engines
without live traffic are optimistic). Every ping is fed to the pure estimators the portal uses
(``portal/core/eta.py`` straight-line, ``portal/core/route.py`` road), and each trip is scored:

- the ETA log the portal keeps (``portal/core/eta_log.py``) is recorded from what the page
  shows, and the arrival is judged by it exactly as the staff statistics judge it: the range
  shown when the estimate first said 15 minutes or fewer (or the first one, on a shorter
  drive), its median absolute error, and the share of arrivals inside it; also the share
  inside every range the log recorded (first, 30, 15, 5 minutes);
- with the rule of thumb (a fifth of the time left, at least 2 minutes, either side), and with
  calibration (``portal/core/calibration.py``) built the way the portal builds it (each
  arrival's counters, then ``from_tallies``) from as many other, separate trips: calibrating
  and scoring on the same trips would flatter it. Those trips are replayed in order, the
  table rebuilt as they arrive, so once there are enough of them they are shown and recorded
  calibrated, as in a portal that has been running a while;
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
from portal.core import eta_log
from portal.core import route as road
from portal.core.eta import (
    DEFAULT_CONFIG,
    Estimate,
    EtaConfig,
    estimate,
    held_of,
    minutes_left,
    shown_range,
    steadied,
)
from portal.core.jobs import TRAIL_SIZE, iso_utc, parse_iso

START = datetime(2030, 3, 3, 14, 0, tzinfo=UTC)
HOME = (41.8868, -87.6574)
M_PER_DEG = road.EARTH_RADIUS_M * math.pi / 180
FREE_FLOW_MPS = 12.0  # what the routing engine assumes on city arterials (about 43 km/h)
PING_SECONDS = 15.0
GPS_SIGMA_M = 8.0
REBUILD_EVERY = 50  # arrivals between two rebuilds of the table (the portal: every 15 minutes)


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


Shown = tuple[datetime, Estimate, tuple[datetime, datetime]]  # (now, the estimate, the range shown)


def estimates(trip: Trip, kind: str, config: EtaConfig) -> list[Shown]:
    """What the page shows at every ping, by the ``straight`` or ``route`` estimator (``core/eta.py``)."""
    coordinates = [[lon, lat] for lat, lon in trip.line]
    length = sum(road.metres(a[1], a[0], b[1], b[0]) for a, b in itertools.pairwise(coordinates))
    route = {"coordinates": coordinates, "duration_s": length / FREE_FLOW_MPS} if kind == "route" else None
    address = {"lat": HOME[0], "lon": HOME[1]}
    found: list[Shown] = []
    trail: list[dict[str, Any]] = []
    held: dict[str, Any] | None = None  # what the page showed last (``portal.eta_held``)
    for t, lat, lon in trip.pings:
        now = START + timedelta(seconds=t)
        ping = {"lat": lat, "lon": lon, "recorded_at": iso_utc(now), "order": [iso_utc(now), "b"]}
        trail = [ping, *trail][:TRAIL_SIZE]
        est = estimate(None, {**ping, "trail": trail}, address, now, config, route)
        if est is not None:
            est, span = steadied(est, shown_range(est, now, config), held, "trip", now)
            held = held_of(est, span, "trip", now) or held
            found.append((now, est, span))
    return found


def arrival_of(trip: Trip) -> datetime:
    return START + timedelta(seconds=trip.arrival_s)


def log_of(series: list[Shown]) -> dict[str, Any] | None:
    """The ETA log the portal keeps for the drive (``core/eta_log.py``): the ranges at first/30/15/5."""
    log = None
    for now, est, shown in series:
        log = eta_log.record(log, "trip", est, shown, now) or log
    return log


def calibrate(trips: list[Trip], kind: str, rebuild_every: int = REBUILD_EVERY) -> cal.Calibration:
    """The table the portal would have after these arrivals, replayed in order as the portal lives them.

    Each arrival adds its counters, and the table is rebuilt from all counters so far
    (``from_tallies``, as ``runtime.calibrate`` does every 15 minutes) once ``rebuild_every``
    more trips have arrived. Until the first ``DEFAULT_MIN_ARRIVALS`` arrivals the pages show the
    rule of thumb; after that they show the calibrated estimate and range, and the ETA log records
    those, so the later trips' samples are taken where a calibrated page takes them.
    """
    totals: dict[str, float] = {"arrivals": 0}
    config = DEFAULT_CONFIG
    for done, trip in enumerate(trips, start=1):
        for sample in cal.samples_of(log_of(estimates(trip, kind, config)), arrival_of(trip)):
            name = cal.tally_name(sample)
            if name is not None:
                totals[name] = totals.get(name, 0) + 1
        totals["arrivals"] = done
        if done % rebuild_every == 0:
            config = EtaConfig(calibration=cal.from_tallies(totals))
    return cal.from_tallies(totals)


def score(trips: list[Trip], kind: str, config: EtaConfig) -> dict[str, float]:
    errors, inside, inside_all, recorded, ups, updates, worst = [], 0, 0, 0, 0, 0, 0.0
    for trip in trips:
        arrived = arrival_of(trip)
        series = estimates(trip, kind, config)
        log = log_of(series)
        judged = eta_log.judge(log, arrived)  # as the staff statistics judge it
        if judged is None:
            continue
        errors.append(judged.error_minutes)
        inside += judged.within
        for entry in (log or {}).get("shown", []):
            recorded += 1
            inside_all += parse_iso(entry["start"]) <= arrived <= parse_iso(entry["end"])
        for (n1, e1, r1), (n2, e2, _) in itertools.pairwise(series):
            before, after = minutes_left(e1.at, n1), minutes_left(e2.at, n2)
            updates += 1
            if after > before:
                ups += 1
                half = (r1[1] - r1[0]).total_seconds() / 120
                worst = max(worst, (after - before) / max(half, 1e-9))
    return {
        "median_abs_error_min": statistics.median(errors),
        "inside": inside / len(errors),
        "inside_all": inside_all / recorded,
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
    for kind in ("straight", "route"):
        plain = score(testing, kind, DEFAULT_CONFIG)
        calibrated = score(testing, kind, EtaConfig(calibration=calibrate(training, kind)))
        rows.append((kind, "rule of thumb (20%, min 2 min)", plain))
        rows.append((kind, "calibrated 10th-90th", calibrated))
    print(f"{args.trips} trips scored, {args.trips} for calibration, seed {args.seed}")
    print(
        "| estimator | range | median abs error at 15 min | inside range at 15 min | inside range, all recorded"
        " | minutes go up | top rise / half range |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind, rule, r in rows:
        print(
            f"| {kind} | {rule} | {r['median_abs_error_min']:.1f} min | {r['inside']:.0%} | {r['inside_all']:.0%}"
            f" | {r['minutes_up']:.1%} of updates | {r['worst_up_vs_half_range']:.2f} |"
        )


if __name__ == "__main__":
    main()
