"""``/staff/attention`` and ``/staff/stats``: who needs help now, and how the service is doing.

Endpoints only: parse, call one function of ``portal.staff.attention`` or
``portal.staff.statistics``, render. They sit behind the console's guard (``staff_guard.py``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from portal.clock import utc_now
from portal.staff import attention, statistics
from portal.staff.auth import StaffSession, csrf_matches
from portal.staff.charts import bar_chart
from portal.staff.job_view import tz_or_utc
from portal.web.common import client_key
from portal.web.common import runtime_of as portal_of
from portal.web.staff_guard import staff_base

SSE_PING_SECONDS = 15  # under the 30-60 s idle timeouts of common proxies
SSE_SEND_TIMEOUT = 30  # a page that cannot take an event for this long is dropped
NO_STORE = {"Cache-Control": "no-store"}
ACK_DONE = "The job's current reasons were cleared. A new occurrence brings it back."
RATING_TOP = 5.0  # ratings are 1-5: the daily average chart's axis ends there
SHARE_TOP = 100.0  # per cent


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    base = {"staff": request.state.staff, "base": staff_base(request.scope)}
    response: Response = templates.TemplateResponse(request, name, {**base, **context}, status_code=status)
    return response


def _staff(request: Request) -> StaffSession:
    session: StaffSession = request.state.staff
    return session


# -- the attention queue -------------------------------------------------------------------


async def attention_page(request: Request) -> Response:
    found = await attention.queue(portal_of(request))
    done = ACK_DONE if request.query_params.get("done") == "acknowledged" else None
    context = {"queue": found, "labels": attention.REASON_LABELS, "help": attention.REASON_HELP, "done": done}
    return _render(request, "staff/attention.html", context)


async def attention_api(request: Request) -> Response:
    return JSONResponse(await attention.queue(portal_of(request)), headers=NO_STORE)


async def attention_events(request: Request) -> Response:
    return EventSourceResponse(
        _queue_events(attention.stream(portal_of(request))),
        ping=SSE_PING_SECONDS,
        send_timeout=SSE_SEND_TIMEOUT,
        headers=NO_STORE,
    )


async def _queue_events(documents: AsyncIterator[dict[str, Any]]) -> AsyncIterator[ServerSentEvent]:
    """Each queue document as a ``queue`` event: the wire format is made here, at the edge."""
    try:
        async for document in documents:
            yield ServerSentEvent(data=json.dumps(document, separators=(",", ":")), event="queue")
    finally:
        await documents.aclose()  # type: ignore[attr-defined]


async def acknowledge(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    session = _staff(request)
    form = await request.form(max_files=0, max_fields=5)
    if not csrf_matches(session.csrf, form.get("csrf_token")):
        return _render(request, "staff/problem.html", {"heading": "Form expired", "message": FORM_EXPIRED}, 403)
    portal = portal_of(request)
    if await portal.store.get_job(job_id) is None:
        return _render(request, "staff/problem.html", {"heading": "Not found", "message": "There is no such job."}, 404)
    await attention.acknowledge(portal, job_id, session.username, client_key(request))
    if form.get("back") == "job":  # the job page's button: back to the job, not to the queue
        return RedirectResponse(f"{staff_base(request.scope)}/jobs/{quote(job_id, safe='')}?done=acknowledged", 303)
    return RedirectResponse(f"{staff_base(request.scope)}/attention?done=acknowledged#queue", 303)


FORM_EXPIRED = "This form is no longer valid. Go back, reload the page and try again."


# -- statistics ----------------------------------------------------------------------------


async def _figures(request: Request) -> dict[str, Any]:
    zone = tz_or_utc(_staff(request).account.timezone)
    params = request.query_params
    days = statistics.parse_range(params.get("from"), params.get("to"), zone, utc_now())
    return await statistics.report(portal_of(request), days)


async def stats_api(request: Request) -> Response:
    try:
        figures = await _figures(request)
    except statistics.BadRange as bad:
        return JSONResponse({"error": "invalid_range", "detail": str(bad)}, 400)
    return JSONResponse(figures, headers=NO_STORE)


async def stats_csv(request: Request) -> Response:
    try:
        figures = await _figures(request)
    except statistics.BadRange as bad:
        return JSONResponse({"error": "invalid_range", "detail": str(bad)}, 400)
    name = f"portal-stats-{figures['from']}-{figures['to']}.csv"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{quote(name)}"'}
    return Response(statistics.as_csv(figures), media_type="text/csv; charset=utf-8", headers=headers)


async def stats_page(request: Request) -> Response:
    try:
        figures = await _figures(request)
    except statistics.BadRange as bad:
        params = request.query_params
        context = {"error": str(bad), "asked_from": params.get("from", ""), "asked_to": params.get("to", "")}
        return _render(request, "staff/stats.html", context, 400)
    return _render(request, "staff/stats.html", {"figures": figures, "charts": charts_of(figures)})


def charts_of(figures: dict[str, Any]) -> list[Any]:
    days = figures["by_day"]

    def series(key: str, scale: float = 1.0) -> list[tuple[str, float | None]]:
        return [(d["date"][5:], None if d[key] is None else d[key] * scale) for d in days]

    distribution = [(score, float(n)) for score, n in figures["ratings"]["distribution"].items()]
    return [
        bar_chart("chart-jobs", "New jobs per day", series("jobs")),
        bar_chart("chart-completed", "Completed visits per day", series("completed")),
        bar_chart(
            "chart-rating", "Average rating per day (1 to 5)", series("rating_average"), top=RATING_TOP, digits=1
        ),
        bar_chart(
            "chart-eta", "Arrivals inside the range shown, per day (%)", series("eta_within_range", 100), top=SHARE_TOP
        ),
        bar_chart("chart-distribution", "Ratings by score", distribution),
    ]


def routes() -> list[Route]:
    return [
        Route("/attention", attention_page, methods=["GET"]),
        Route("/attention/events", attention_events, methods=["GET"]),
        Route("/api/attention", attention_api, methods=["GET"]),
        Route("/jobs/{job_id}/acknowledge", acknowledge, methods=["POST"]),
        Route("/stats", stats_page, methods=["GET"]),
        Route("/stats.csv", stats_csv, methods=["GET"]),
        Route("/api/stats", stats_api, methods=["GET"]),
    ]
