"""The demo's roads: polylines shipped with the demo (``roads.geojson``), driven and routed on.

The simulated technicians drive along these lines, and ``portal demo --routing`` answers the
portal's routing requests (CONTRACT §10) from the same lines, in OSRM's format, so the demo
shows road ETAs and the route on the map without any network.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from portal.core import route as road

ROADS_FILE = Path(__file__).with_name("roads.geojson")
DRIVE_SPEED_MPS = 13.0  # about 47 km/h on city arterials: the speed the simulated vans drive at
DESTINATION_RADIUS_M = 200.0  # a request for a destination this close to a road's end takes that road

Point = tuple[float, float]  # (lat, lon)


@cache
def roads() -> dict[str, list[Point]]:
    """Each demo job's road, by job id, as (lat, lon) points from start to the customer's door."""
    collection = json.loads(ROADS_FILE.read_text())
    return {
        feature["properties"]["job"]: [(lat, lon) for lon, lat in feature["geometry"]["coordinates"]]
        for feature in collection["features"]
    }


def parse_points(text: str) -> tuple[Point, Point]:
    """``lon,lat;lon,lat`` as OSRM takes it, to ((lat, lon), (lat, lon)); ValueError otherwise."""
    pairs = text.split(";")
    if len(pairs) != 2:
        raise ValueError("expected two points")
    found = []
    for pair in pairs:
        lon, lat = (float(v) for v in pair.split(","))
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("point off the globe")
        found.append((lat, lon))
    return found[0], found[1]


def answer(origin: Point, destination: Point) -> dict[str, Any] | None:
    """OSRM's answer for the rest of the demo road from ``origin`` to ``destination``, or None
    when no demo road ends at the destination or the origin is off it."""
    for line in roads().values():
        end = line[-1]
        if road.metres(*end, *destination) > DESTINATION_RADIUS_M:
            continue
        coordinates = [[lon, lat] for lat, lon in line]
        fix = road.project(coordinates, *origin)
        if fix.off_m > road.OFF_ROUTE_M:
            return None
        ahead = _from(coordinates, fix.along_m)
        distance = max(0.0, fix.length_m - fix.along_m)
        found = {
            "duration": distance / DRIVE_SPEED_MPS,
            "distance": distance,
            "geometry": {"type": "LineString", "coordinates": ahead},
        }
        return {"code": "Ok", "routes": [found]}
    return None


def _from(coordinates: list[list[float]], along_m: float) -> list[list[float]]:
    """The line from ``along_m`` metres along it to its end."""
    walked = 0.0
    for index in range(len(coordinates) - 1):
        (lon1, lat1), (lon2, lat2) = coordinates[index], coordinates[index + 1]
        leg = road.metres(lat1, lon1, lat2, lon2)
        if walked + leg >= along_m:
            f = 0.0 if leg == 0 else (along_m - walked) / leg
            start = [round(lon1 + (lon2 - lon1) * f, 6), round(lat1 + (lat2 - lat1) * f, 6)]
            return [start, *coordinates[index + 1 :]]
        walked += leg
    return coordinates[-2:]
