"""A simple, honest ETA estimate from the technician's last position.

Road distance is the great-circle distance times a detour factor; speed is the reported
speed when the technician is clearly moving, else an urban default. The field system's own
ETA is preferred while it is fresh.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from portal.core.jobs import parse_iso

EARTH_RADIUS_M = 6_371_000.0
DETOUR_FACTOR = 1.35  # roads are rarely straight; 1.3-1.4 is typical for city grids
URBAN_SPEED_MPS = 8.0  # about 29 km/h: average urban driving speed including stops
MIN_MOVING_SPEED_MPS = 2.0  # below this a reported speed says "stopped at a light", not "slow"
FIELD_ETA_FRESH = timedelta(minutes=30)  # a field-system ETA older than this is no longer trusted


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def estimate_arrival(location: dict[str, Any], lat: float, lon: float) -> datetime:
    """When a technician at ``location`` should reach (lat, lon)."""
    road = distance_m(location["lat"], location["lon"], lat, lon) * DETOUR_FACTOR
    speed = location.get("speed_mps") or 0.0
    if speed < MIN_MOVING_SPEED_MPS:
        speed = URBAN_SPEED_MPS
    return parse_iso(location["recorded_at"]) + timedelta(seconds=road / speed)


def current_eta(
    field_eta: dict[str, Any] | None,
    location: dict[str, Any] | None,
    address: dict[str, Any],
    now: datetime,
) -> datetime | None:
    """The best ETA we have: a fresh field-system ETA, else our estimate, else None."""
    if field_eta and now - parse_iso(field_eta["reported_at"]) <= FIELD_ETA_FRESH:
        return parse_iso(field_eta["at"])
    if location and address.get("lat") is not None and address.get("lon") is not None:
        return estimate_arrival(location, float(address["lat"]), float(address["lon"]))
    return None
