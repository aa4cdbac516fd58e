"""Road routing (CONTRACT §10): asks an OSRM-compatible API for the road to each customer.

The request never happens inside a store change and never holds up a webhook's answer:
once a position is stored, ``Router.consider`` starts a background task for the job (one
at a time per job, and at most one request per job every 30 seconds, see
``portal/core/route.py``), and the answer is stored by a second change that publishes the
new ``eta`` and ``job`` events. Any failure (timeout, refused connection, an error status,
an answer that is not a route) leaves the job as it was, so the page keeps the
straight-line estimate; the failure is counted in ``/metrics`` and logged once per outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx

from portal.clock import utc_now
from portal.core import route as road
from portal.core.jobs import Job
from portal.core.route import Answer
from portal.metrics import Metrics

log = logging.getLogger("portal.routing")

TIMEOUT_SECONDS = 2.0  # CONTRACT §10: a slow engine must not hold the ETA up; the straight line will do
# Requests remembered per job for the 30-second limit; older entries are dropped past this many
# jobs, as they no longer limit anything.
PRUNE_AT = 1000

StoreRoute = Callable[[str, str, Answer], Awaitable[None]]


class RoutingFailed(Exception):
    """The engine gave no usable route; ``outcome`` is the metrics label."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome


class RoutingClient:
    """One HTTP client for the portal's routing requests, with a 2-second timeout."""

    def __init__(self, base_url: str, metrics: Metrics, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.metrics = metrics
        self._http = httpx.AsyncClient(timeout=timeout)
        self._down = False  # inside an outage: logged once when it starts, once when it ends

    async def route(self, origin: tuple[float, float], destination: tuple[float, float]) -> Answer:
        """The road from ``origin`` to ``destination`` (lat, lon); RoutingFailed otherwise."""
        try:
            answer = await self._ask(origin, destination)
        except RoutingFailed as failure:
            self.metrics.routing_requests.labels(failure.outcome).inc()
            if not self._down:
                self._down = True
                log.warning("routing failed (%s); ETAs use the straight-line estimate until it answers", failure)
            raise
        self.metrics.routing_requests.labels("ok").inc()
        if self._down:
            self._down = False
            log.info("routing answers again; ETAs follow the road")
        return answer

    async def _ask(self, origin: tuple[float, float], destination: tuple[float, float]) -> Answer:
        points = f"{origin[1]:.6f},{origin[0]:.6f};{destination[1]:.6f},{destination[0]:.6f}"
        url = f"{self.base_url}/route/v1/driving/{points}"
        try:
            response = await self._http.get(url, params={"overview": "full", "geometries": "geojson"})
        except httpx.TimeoutException:
            raise RoutingFailed("timeout", f"no answer within {TIMEOUT_SECONDS:g} s") from None
        except httpx.HTTPError as exc:
            raise RoutingFailed("error", f"{type(exc).__name__}: {exc}") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200:
            code = payload.get("code") if isinstance(payload, dict) else None
            raise RoutingFailed("error", f"answered {response.status_code} {str(code or '')[:40]}".rstrip())
        try:
            return road.parse_answer(payload)
        except road.BadRoute as exc:
            raise RoutingFailed("bad_answer", str(exc)) from None

    async def aclose(self) -> None:
        await self._http.aclose()


class Router:
    """Starts the routing request a stored change calls for, in the background, once per job."""

    def __init__(self, client: RoutingClient, store_route: StoreRoute) -> None:
        self.client = client
        self.store_route = store_route
        self._running: dict[str, asyncio.Task[None]] = {}  # the in-flight guard, per job
        self._asked: dict[str, datetime] = {}  # when each job last asked (the 30-second limit)

    def consider(self, job: Job, now: datetime | None = None) -> None:
        """Ask for ``job``'s route in the background when it needs one; never waits for it."""
        now = now or utc_now()
        if job.id in self._running or not road.needs_request(job, now, self._asked.get(job.id)):
            return
        assert job.location is not None  # needs_request checked it
        origin = (float(job.location["lat"]), float(job.location["lon"]))
        destination = (float(job.address["lat"]), float(job.address["lon"]))
        self._remember(job.id, now)
        task = asyncio.create_task(self._run(job.id, road.trip_of(job), origin, destination), name=f"route {job.id}")
        self._running[job.id] = task
        task.add_done_callback(lambda _: self._running.pop(job.id, None))

    def _remember(self, job_id: str, now: datetime) -> None:
        if len(self._asked) >= PRUNE_AT:
            old = [k for k, at in self._asked.items() if now - at >= road.MIN_REQUEST_INTERVAL]
            for key in old:
                del self._asked[key]
        self._asked[job_id] = now

    async def _run(self, job_id: str, trip: str, origin: tuple[float, float], destination: tuple[float, float]) -> None:
        try:
            answer = await self.client.route(origin, destination)
        except RoutingFailed:
            return  # counted and logged by the client; the straight-line estimate stands
        try:
            await self.store_route(job_id, trip, answer)
        except Exception:
            log.exception("could not store the route of %s", job_id)

    async def idle(self) -> None:
        """Wait for the requests under way (tests and shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*list(self._running.values()), return_exceptions=True)
        await self.client.aclose()
