"""A road route to the customer, and how far along it the technician is. Pure: no clock, no I/O.

A routing engine (CONTRACT §10) answers with the road from where the technician was to the
job's address: its line and how long it takes. The portal keeps that answer in the job
(``portal.route``) and asks again at most every ``MIN_REQUEST_INTERVAL``; in between, each
new position is projected onto the known line and the time left is the road duration
scaled by the share of the line still ahead. A position more than ``OFF_ROUTE_M`` from the
line means the technician took another road: the route no longer says anything, the
straight-line estimate takes over, and a new route is asked for.

Stored form, in the job's values under ``portal.route``::

    {"trip": "<event time of the en_route status>", "coordinates": [[lon, lat], ...],
     "duration_s": float, "distance_m": float, "fetched_at": ISO}
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from portal.core.jobs import Job, iso_utc, parse_iso

ROUTE = "portal.route"
EARTH_RADIUS_M = 6_371_000.0
OFF_ROUTE_M = 100.0  # farther than a wide street and GPS error from the line: another road
MIN_REQUEST_INTERVAL = timedelta(seconds=30)  # CONTRACT §10: one routing request per job per 30 s
# A route is asked for again after this long even on it: engines with live traffic update
# their durations, and a couple of minutes is as fresh as a drive needs.
REFRESH_AFTER = timedelta(minutes=2)
MAX_POINTS = 1000  # a city drive needs a few hundred; more is thinned so a job stays small
MAX_DURATION_S = 2 * 86400.0  # longer than two days of driving is not an answer for a visit


Answer = tuple[list[list[float]], float, float]  # an engine's route: coordinates, duration_s, distance_m


class BadRoute(ValueError):
    """The routing engine's answer is not a usable route."""


@dataclass(frozen=True)
class Fix:
    """Where a position lies against a route."""

    off_m: float  # distance from the line
    along_m: float  # distance along the line to the closest point
    length_m: float  # the line's whole length


def parse_answer(payload: Any) -> Answer:
    """``(coordinates, duration_s, distance_m)`` from an OSRM ``route`` answer; BadRoute otherwise."""
    if not isinstance(payload, dict) or payload.get("code") != "Ok":
        code = payload.get("code") if isinstance(payload, dict) else None
        raise BadRoute(f"answer code is {str(code)[:40]!r}, not 'Ok'")
    routes = payload.get("routes")
    if not isinstance(routes, list) or not routes or not isinstance(routes[0], dict):
        raise BadRoute("answer has no routes")
    first = routes[0]
    duration, distance = first.get("duration"), first.get("distance")
    if not _finite(duration) or not 0 <= duration <= MAX_DURATION_S:
        raise BadRoute("route duration is not a number of seconds")
    if not _finite(distance) or distance < 0:
        raise BadRoute("route distance is not a number of metres")
    geometry = first.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "LineString":
        raise BadRoute("route geometry is not a GeoJSON LineString (ask with geometries=geojson)")
    raw = geometry.get("coordinates")
    if not isinstance(raw, list) or len(raw) < 2:
        raise BadRoute("route geometry has fewer than two points")
    coordinates: list[list[float]] = []
    for point in raw:
        if not (isinstance(point, list) and len(point) >= 2 and _finite(point[0]) and _finite(point[1])):
            raise BadRoute("route geometry has a point that is not [lon, lat]")
        lon, lat = float(point[0]), float(point[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise BadRoute("route geometry has a point off the globe")
        coordinates.append([lon, lat])
    return thin(coordinates), float(duration), float(distance)


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def thin(coordinates: list[list[float]], limit: int = MAX_POINTS) -> list[list[float]]:
    """At most ``limit`` points, evenly picked, always keeping both ends."""
    if len(coordinates) <= limit:
        return coordinates
    step = (len(coordinates) - 1) / (limit - 1)
    return [coordinates[round(i * step)] for i in range(limit)]


def stored(job: Job, coordinates: list[list[float]], duration_s: float, distance_m: float, now: datetime) -> Job:
    """``job`` carrying a new route for its current trip; the input is not modified."""
    after = job.copy()
    after.values[ROUTE] = {
        "trip": trip_of(job),
        "coordinates": coordinates,
        "duration_s": duration_s,
        "distance_m": distance_m,
        "fetched_at": iso_utc(now),
    }
    return after


def trip_of(job: Job) -> str:
    """One drive to the customer: the event time of the status it belongs to."""
    stamp = job.stamps.get("status")
    return stamp[0] if stamp else "-"


def current(job: Job) -> dict[str, Any] | None:
    """The job's route when it belongs to this drive (a route of an earlier trip says nothing)."""
    route = job.values.get(ROUTE)
    if job.status != "en_route" or not isinstance(route, dict) or route.get("trip") != trip_of(job):
        return None
    return route


def geojson(job: Job) -> dict[str, Any] | None:
    """The route as a GeoJSON LineString for the public state, or None."""
    route = current(job)
    return {"type": "LineString", "coordinates": route["coordinates"]} if route else None


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def project(coordinates: list[list[float]], lat: float, lon: float) -> Fix:
    """Where (lat, lon) lies against the line: nearest point, on a local flat projection.

    Each segment is short next to the Earth's radius, so an equirectangular projection around
    the point is accurate to well under a metre for the distances that matter here.
    """
    scale_x = EARTH_RADIUS_M * math.radians(1) * math.cos(math.radians(lat))
    scale_y = EARTH_RADIUS_M * math.radians(1)
    best = (math.inf, 0.0)
    walked = 0.0
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(coordinates):
        ax, ay = (lon1 - lon) * scale_x, (lat1 - lat) * scale_y
        bx, by = (lon2 - lon) * scale_x, (lat2 - lat) * scale_y
        dx, dy = bx - ax, by - ay
        seg = math.hypot(dx, dy)
        t = 0.0 if seg == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / (seg * seg)))
        off = math.hypot(ax + t * dx, ay + t * dy)
        if off < best[0]:
            best = (off, walked + t * seg)
        walked += seg
    return Fix(off_m=best[0], along_m=best[1], length_m=walked)


def seconds_left(route: dict[str, Any], lat: float, lon: float) -> float | None:
    """The road time left from (lat, lon), or None when the position is off the route."""
    fix = project(route["coordinates"], lat, lon)
    if fix.off_m > OFF_ROUTE_M:
        return None
    if fix.length_m <= 0:
        return 0.0
    return float(route["duration_s"]) * max(0.0, fix.length_m - fix.along_m) / fix.length_m


def needs_request(job: Job, now: datetime, last_request: datetime | None) -> bool:
    """Whether to ask the routing engine now: en route with a position and an address, and
    no route for this drive, or off it, or an old one; never twice within 30 seconds."""
    if job.status != "en_route" or job.location is None:
        return False
    address = job.address
    if address.get("lat") is None or address.get("lon") is None:
        return False
    if last_request is not None and now - last_request < MIN_REQUEST_INTERVAL:
        return False
    route = current(job)
    if route is None:
        return True
    if now - parse_iso(route["fetched_at"]) >= REFRESH_AFTER:
        return True
    return seconds_left(route, float(job.location["lat"]), float(job.location["lon"])) is None
