"""An OSRM-compatible ``route`` service on a loopback port, for the portal's routing client.

``GET /route/v1/driving/{lon},{lat};{lon},{lat}?overview=full&geometries=geojson`` answers as
OSRM does: ``{"code": "Ok", "routes": [{"duration", "distance", "geometry"}]}``. The road it
draws is an L: north or south along the origin's meridian to the destination's latitude, then
east or west, at ``SPEED_MPS``. ``mode`` switches it to failing: ``error`` (a 500 with an OSRM
error body), ``timeout`` (answers after the client gave up), ``garbage`` (200, not a route).
Every request is recorded.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

SPEED_MPS = 10.0
TIMEOUT_DELAY_SECONDS = 3.0  # longer than the portal's 2-second timeout
EARTH_RADIUS_M = 6_371_000.0


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = (math.radians(v) for v in (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


@dataclass
class FakeOsrm:
    mode: str = "ok"
    requests: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/route/v1/driving/{points}", self.route)])

    async def route(self, request: Request) -> Response:
        self.requests.append({"points": request.path_params["points"], **request.query_params})
        if self.mode == "timeout":
            await asyncio.sleep(TIMEOUT_DELAY_SECONDS)
        if self.mode == "error":
            return JSONResponse({"code": "NoRoute", "message": "Impossible route between points"}, status_code=500)
        if self.mode == "garbage":
            return PlainTextResponse("<html>gateway</html>")
        (lon1, lat1), (lon2, lat2) = (
            tuple(float(v) for v in p.split(",")) for p in request.path_params["points"].split(";")
        )
        line = [(lon1, lat1), (lon1, lat2), (lon2, lat2)]
        distance = metres(line[0], line[1]) + metres(line[1], line[2])
        geometry = {"type": "LineString", "coordinates": [list(p) for p in line]}
        found = {"duration": distance / SPEED_MPS, "distance": distance, "geometry": geometry}
        return JSONResponse({"code": "Ok", "routes": [found]})
