"""``/t/{token}``: the customer's tracking page, its state as JSON, its live stream, its forms
and its calendar file."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncGenerator, AsyncIterator
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.core.stepper import stepper
from portal.customer.actions import PAGE_ACTIONS, FormRefused
from portal.customer.tracking import LinkRefused, PageEvent
from portal.i18n import Localizer
from portal.web.common import client_key, runtime_of
from portal.web.frames import PING_FRAME, FrameCache
from portal.web.streams import EventStream, StreamHub

SSE_PING_SECONDS = 15  # under the 30-60 s idle timeouts of common proxies and mobile carriers
SSE_SEND_TIMEOUT = 30  # a client that cannot take an event for this long is dropped
PROBLEMS = {
    404: ("Link not found", "This tracking link is not valid. Please check the link in your message."),
    410: ("This link has expired", "This tracking link is no longer active. Contact us for a new one."),
    429: ("Too many attempts", "Please wait a few minutes and try again."),
}
NO_STORE = {"Cache-Control": "no-store"}
MAX_FORM_FIELDS = 10  # the largest form has four fields
MAX_FORM_BYTES = 16 * 1024  # a few notes' worth; forms refuse text over 1000 characters anyway
FIRST_TILE_ZOOM = 15  # static/js/map.js ZOOM: the first view, a few blocks around the technician
MERCATOR_LAT = 85.0511  # Web Mercator's edge: tiles stop here
FORM_PROBLEMS = frozenset({400, 403, 404, 409})  # each has a heading ``form.problem.<status>`` in the catalogues


def _first_tile(template: str | None, location: dict[str, Any] | None) -> str | None:
    """The tile under the technician at the map's first zoom, named in the HTML itself.

    The browser fetches it with the page, so the map's box shows the neighbourhood at the first
    paint instead of after the map library has loaded and laid itself out; the live map then
    draws over it. The standard Web Mercator tile numbering (``{z}/{x}/{y}``).
    """
    if not template or not location or "{x}" not in template or "{y}" not in template:
        return None
    tiles = 2**FIRST_TILE_ZOOM
    lat = math.radians(max(-MERCATOR_LAT, min(MERCATOR_LAT, float(location["lat"]))))
    x = int((float(location["lon"]) + 180.0) / 360.0 * tiles) % tiles
    y = min(tiles - 1, max(0, int((1.0 - math.asinh(math.tan(lat)) / math.pi) / 2.0 * tiles)))
    values = {"{z}": str(FIRST_TILE_ZOOM), "{x}": str(x), "{y}": str(y), "{s}": "a", "{r}": ""}
    for key, value in values.items():
        template = template.replace(key, value)
    return template


@cache  # one tile template per process: parsed once, not on every page
def _origin(template: str | None) -> str | None:
    """``https://tile.example.org`` of a tile URL template: the page opens that connection early."""
    parts = urlsplit(template or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def _problem(request: Request, status: int) -> Response:
    # No job is known for a refused link: the reader's browser language chooses.
    loc = runtime_of(request).translations.negotiate(request.headers.get("accept-language"))
    heading, message = loc.t(f"problem.{status}.heading"), loc.t(f"problem.{status}.message")
    templates = request.app.state.templates
    context = {"heading": heading, "message": message, "i18n": loc}
    headers = {**NO_STORE, "Retry-After": "300"} if status == 429 else NO_STORE
    response: Response = templates.TemplateResponse(
        request, "pages/link_problem.html", context, status_code=status, headers=headers
    )
    return response


def _notice(request: Request, status: int, heading: str, message: str, *, back: str, loc: Localizer) -> Response:
    context = {"heading": heading, "message": message, "back": back, "i18n": loc}
    response: Response = request.app.state.templates.TemplateResponse(
        request, "pages/link_problem.html", context, status_code=status, headers=NO_STORE
    )
    return response


async def page(request: Request) -> Response:
    runtime = runtime_of(request)
    tracking = runtime.tracking
    try:
        record = await tracking.open_link(request.path_params["token"], client_key(request))
    except LinkRefused as refused:
        return _problem(request, refused.status)
    current = tracking.state_of(record)
    settings = runtime.settings
    loc = runtime.translations.localizer(record.job.customer.get("locale"))
    context = {
        "i18n": loc,
        "state": current,
        "stepper": stepper(current["status"], current["timeline"]),
        "labels": loc.status_labels(),
        "events_url": f"/t/{request.path_params['token']}/events",
        "map_tiles": settings.map_tiles,
        "map_origin": _origin(settings.map_tiles),
        "first_tile": _first_tile(settings.map_tiles, current.get("location")),
        "map_attribution": settings.map_attribution,
        "stale_after": settings.location_stale_seconds,
        "token": request.path_params["token"],
        "actions": runtime.forms.context(record, request.query_params.get("done")),
    }
    headers = NO_STORE
    response: Response = request.app.state.templates.TemplateResponse(
        request, "pages/tracking.html", context, headers=headers
    )
    return response


async def state(request: Request) -> Response:
    tracking = runtime_of(request).tracking
    try:
        record = await tracking.open_link(request.path_params["token"], client_key(request))
    except LinkRefused as refused:
        return JSONResponse({"error": PROBLEMS[refused.status][0]}, refused.status, headers=NO_STORE)
    return JSONResponse(tracking.state_of(record), headers=NO_STORE)


async def events(request: Request) -> Response:
    runtime, client = runtime_of(request), client_key(request)
    tracking, streams = runtime.tracking, runtime.streams
    try:
        record = await tracking.open_link(request.path_params["token"], client)
    except LinkRefused as refused:
        return JSONResponse({"error": PROBLEMS[refused.status][0]}, refused.status, headers=NO_STORE)
    if not streams.acquire(client):
        return JSONResponse({"error": "Too many open streams"}, 429, headers={**NO_STORE, "Retry-After": "60"})
    frames = _frames(tracking.event_stream(record, request.headers.get("last-event-id")), _frame_cache(request))
    return EventStream(frames, _stream_hub(request), headers=NO_STORE, on_close=lambda: streams.release(client))


def _frame_cache(request: Request) -> FrameCache:
    """The app's one frame cache: every stream of this process shares its encodings."""
    state = request.app.state
    cache: FrameCache | None = getattr(state, "sse_frames", None)
    if cache is None:
        cache = state.sse_frames = FrameCache()
    return cache


def _stream_hub(request: Request) -> StreamHub:
    """The app's one ping timer for its tracking streams (see ``portal/web/streams.py``)."""
    state = request.app.state
    hub: StreamHub | None = getattr(state, "sse_hub", None)
    if hub is None:
        hub = state.sse_hub = StreamHub(PING_FRAME, ping_seconds=SSE_PING_SECONDS, send_timeout=SSE_SEND_TIMEOUT)
    return hub


async def _frames(events: AsyncGenerator[PageEvent, None], cache: FrameCache) -> AsyncIterator[bytes]:
    """The page's events as SSE frames (see ``portal/web/frames.py``)."""
    async with contextlib.aclosing(events) as closing:  # unsubscribes however the response ends
        async for event in closing:
            yield cache.frame(event)


async def act(request: Request) -> Response:
    """One of the page's forms; 303 back to the page, which then confirms it."""
    runtime = runtime_of(request)
    token, kind = request.path_params["token"], request.path_params["action"]
    try:
        record = await runtime.tracking.open_link(token, client_key(request))
    except LinkRefused as refused:
        return _problem(request, refused.status)
    if kind not in PAGE_ACTIONS:
        return Response(status_code=404)
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)  # the route limits the body size
    try:
        await runtime.forms.submit(record, kind, form)
    except FormRefused as refused:
        loc = runtime.translations.localizer(record.job.customer.get("locale"))
        heading = loc.t(f"form.problem.{refused.status if refused.status in FORM_PROBLEMS else 'other'}")
        message = loc.t(refused.key, **refused.values)
        return _notice(request, refused.status, heading, message, back=f"/t/{token}", loc=loc)
    return RedirectResponse(f"/t/{token}?done={kind}", status_code=303, headers=NO_STORE)


async def calendar(request: Request) -> Response:
    runtime = runtime_of(request)
    try:
        record = await runtime.tracking.open_link(request.path_params["token"], client_key(request))
    except LinkRefused as refused:
        return _problem(request, refused.status)
    ics = runtime.tracking.calendar_of(record)
    if ics is None:
        token = request.path_params["token"]
        loc = runtime.translations.localizer(record.job.customer.get("locale"))
        heading, message = loc.t("calendar.no_window.heading"), loc.t("calendar.no_window.message")
        return _notice(request, 404, heading, message, back=f"/t/{token}", loc=loc)
    headers = {**NO_STORE, "Content-Disposition": 'attachment; filename="appointment.ics"'}
    return Response(ics, media_type="text/calendar", headers=headers)


# The fixed paths come before the forms' ``{action}``, so a wrong method on them answers 405
# with their own ``Allow: GET``, not the forms' POST.
routes = [
    Route("/t/{token}", page, methods=["GET"]),
    Route("/t/{token}/calendar.ics", calendar, methods=["GET"]),
    Route("/t/{token}/state", state, methods=["GET"]),
    Route("/t/{token}/events", events, methods=["GET"]),
    Route("/t/{token}/{action}", act, methods=["POST"], max_body_size=MAX_FORM_BYTES),
]
