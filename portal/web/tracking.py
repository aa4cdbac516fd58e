"""``/t/{token}``: the customer's tracking page, its state as JSON, and its live stream."""

from __future__ import annotations

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.core.public import STATUS_LABELS
from portal.tracking import LinkRefused, event_stream, open_link, state_of
from portal.web.common import client_key, portal_of
from portal.web.security import page_csp

SSE_PING_SECONDS = 15  # under the 30-60 s idle timeouts of common proxies and mobile carriers
SSE_SEND_TIMEOUT = 30  # a client that cannot take an event for this long is dropped
PROBLEMS = {
    404: ("Link not found", "This tracking link is not valid. Please check the link in your message."),
    410: ("This link has expired", "This tracking link is no longer active. Contact us for a new one."),
    429: ("Too many attempts", "Please wait a few minutes and try again."),
}
NO_STORE = {"Cache-Control": "no-store"}


def _problem(request: Request, status: int) -> Response:
    heading, message = PROBLEMS[status]
    templates = request.app.state.templates
    context = {"heading": heading, "message": message}
    headers = {**NO_STORE, "Retry-After": "300"} if status == 429 else NO_STORE
    response: Response = templates.TemplateResponse(
        request, "pages/link_problem.html", context, status_code=status, headers=headers
    )
    return response


async def page(request: Request) -> Response:
    portal = portal_of(request)
    try:
        record = await open_link(portal, request.path_params["token"], client_key(request))
    except LinkRefused as refused:
        return _problem(request, refused.status)
    current = state_of(record, portal.eta_config)
    settings = portal.settings
    context = {
        "state": current,
        "labels": STATUS_LABELS,
        "events_url": f"/t/{request.path_params['token']}/events",
        "map_tiles": settings.map_tiles,
        "map_attribution": settings.map_attribution,
        "stale_after": settings.location_stale_seconds,
    }
    photo = current["technician"]["photo_url"] if current["technician"] else None
    headers = {**NO_STORE, "Content-Security-Policy": page_csp(settings.map_tiles, photo)}
    response: Response = request.app.state.templates.TemplateResponse(
        request, "pages/tracking.html", context, headers=headers
    )
    return response


async def state(request: Request) -> Response:
    portal = portal_of(request)
    try:
        record = await open_link(portal, request.path_params["token"], client_key(request))
    except LinkRefused as refused:
        return JSONResponse({"error": PROBLEMS[refused.status][0]}, refused.status, headers=NO_STORE)
    return JSONResponse(state_of(record, portal.eta_config), headers=NO_STORE)


async def events(request: Request) -> Response:
    portal = portal_of(request)
    try:
        record = await open_link(portal, request.path_params["token"], client_key(request))
    except LinkRefused as refused:
        return JSONResponse({"error": PROBLEMS[refused.status][0]}, refused.status, headers=NO_STORE)
    stream = event_stream(portal, record, request.headers.get("last-event-id"))
    return EventSourceResponse(stream, ping=SSE_PING_SECONDS, send_timeout=SSE_SEND_TIMEOUT, headers=NO_STORE)


routes = [
    Route("/t/{token}", page, methods=["GET"]),
    Route("/t/{token}/state", state, methods=["GET"]),
    Route("/t/{token}/events", events, methods=["GET"]),
]
