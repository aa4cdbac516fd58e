"""``/staff``: the support console (CONTRACT §7), a sub-app behind one auth guard.

Endpoints parse the request, call one function of ``portal.staff`` and render; forms that
change something carry the session's CSRF token, and a missing or wrong one answers 403.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from portal.runtime import Runtime
from portal.staff import attention, console
from portal.staff.auth import COOKIE_NAME, FAILURE_WINDOW_SECONDS, LoginRefused, StaffAuth, StaffSession, csrf_matches
from portal.staff.job_view import MESSAGE_STATUS_LABELS, in_zone
from portal.staff.thread import request_sentences, understood_sentence
from portal.store.base import StoreUnavailable
from portal.web import staff_insight
from portal.web.common import client_key, runtime_of
from portal.web.staff_guard import StaffGuard, clear_session_cookie, set_session_cookie, staff_base
from portal.web.templating import make_templates

LANDING = "/attention"  # after sign-in: who needs a person now (CONTRACT §7)
MAX_FORM_BYTES = 16 * 1024  # a sign-in or button form is tiny; anything larger is not ours
REJECTED_SHOWN = 100
DONE_MESSAGES = {  # outcomes after a form, by fixed key: no request text is ever reflected
    "resent": "The link was queued to be sent to the customer.",
    "revoked": "The link was revoked. Earlier links now answer 410; use “Resend link” to send the new one.",
    "no_contact": "Nothing was sent: the job has no usable phone number or email.",
    "expired": "Nothing was sent: the job closed too long ago and its link has expired.",
    "acknowledged": "The job's current reasons were cleared. A new occurrence brings it back to the queue.",
}
PROBLEMS = {
    403: ("Form expired", "This form is no longer valid. Go back, reload the page and try again."),
    404: ("Not found", "There is no such page or job."),
    503: ("Temporarily unavailable", "The store cannot be reached right now. Try again in a moment."),
}


class CsrfRejected(Exception):
    pass


def _auth(request: Request) -> StaffAuth:
    auth: StaffAuth = request.app.state.auth
    return auth


def _staff(request: Request) -> StaffSession:
    session: StaffSession = request.state.staff
    return session


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    session = getattr(request.state, "staff", None)
    base = {"staff": session, "base": staff_base(request.scope)}
    response: Response = templates.TemplateResponse(request, name, {**base, **context}, status_code=status)
    return response


async def _checked_form(request: Request, expected: str) -> FormData:
    form = await request.form(max_files=0, max_fields=20)
    if not csrf_matches(expected, form.get("csrf_token")):
        raise CsrfRejected
    return form


def _back_to_job(request: Request, job_id: str, done: str) -> Response:
    return RedirectResponse(f"{staff_base(request.scope)}/jobs/{_quote(job_id)}?done={done}", 303)


def _quote(job_id: str) -> str:
    return quote(job_id, safe="")


def _safe_next(raw: object) -> str:
    """A path inside the console to return to after sign-in; anything else goes to the attention queue."""
    if isinstance(raw, str) and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return LANDING


# -- sign-in ---------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    auth = _auth(request)
    session, _ = await auth.authenticate(request.cookies.get(COOKIE_NAME))
    if session is not None:
        return RedirectResponse(f"{staff_base(request.scope)}{LANDING}", 303)
    return _login_form(request, next_path=request.query_params.get("next"))


async def login(request: Request) -> Response:
    auth = _auth(request)
    current = auth.decode(request.cookies.get(COOKIE_NAME))
    form = await _checked_form(request, current.csrf if current else "")
    try:
        state = await auth.login(str(form.get("username", "")), str(form.get("password", "")), client_key(request))
    except LoginRefused as refused:
        return _login_form(request, next_path=form.get("next"), error=refused.message, status=refused.status)
    base = staff_base(request.scope)
    response = RedirectResponse(base + _safe_next(form.get("next")), 303)
    set_session_cookie(response, auth, state, base)
    return response


async def sign_in(request: Request) -> Response:
    return await (login(request) if request.method == "POST" else login_page(request))


def _login_form(request: Request, *, next_path: object, error: str | None = None, status: int = 200) -> Response:
    auth = _auth(request)
    state = auth.anonymous(auth.decode(request.cookies.get(COOKIE_NAME)))
    context = {
        "csrf_token": state.csrf,
        "error": error,
        "next": _safe_next(next_path),
        "expired": request.query_params.get("expired") == "1",
        "signed_out": request.query_params.get("signed_out") == "1",
        "idle_minutes": auth.idle_seconds // 60,
    }
    response = _render(request, "staff/login.html", context, status)
    if status == 429:
        response.headers["Retry-After"] = str(FAILURE_WINDOW_SECONDS)
    set_session_cookie(response, auth, state, staff_base(request.scope))
    return response


async def logout(request: Request) -> Response:
    session = _staff(request)
    await _checked_form(request, session.csrf)
    await _auth(request).logout(session, client_key(request))
    response = RedirectResponse(f"{staff_base(request.scope)}/login?signed_out=1", 303)
    clear_session_cookie(response, _auth(request), staff_base(request.scope))
    return response


# -- the console -----------------------------------------------------------------------


async def search(request: Request) -> Response:
    query = request.query_params.get("q", "")
    page = console.page_number(request.query_params.get("page"))
    found = await runtime_of(request).console.search(query, page)
    return _render(request, "staff/search.html", {"found": found, "query": query.strip()})


async def job_page(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    session = _staff(request)
    try:
        doc = await runtime_of(request).console.open_job(job_id, session.username, client_key(request), "page")
    except console.JobNotFound:
        return _problem(request, 404)
    context = {
        "doc": doc,
        "job": doc["job"],
        "attention": await attention.for_job(runtime_of(request), job_id),
        "staff_zone": session.account.timezone,
        "done": DONE_MESSAGES.get(request.query_params.get("done", "")),
        "message_labels": MESSAGE_STATUS_LABELS,
        "ttl_days": runtime_of(request).settings.link_ttl_days,
    }
    return _render(request, "staff/job.html", context)


async def job_api(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    session = _staff(request)
    try:
        doc = await runtime_of(request).console.open_job(job_id, session.username, client_key(request), "api")
    except console.JobNotFound:
        return JSONResponse({"error": "not_found", "detail": "no job with this id"}, 404)
    return JSONResponse(doc)


async def resend(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    session = _staff(request)
    await _checked_form(request, session.csrf)
    try:
        await runtime_of(request).console.resend_link(job_id, session.username, client_key(request))
    except console.JobNotFound:
        return _problem(request, 404)
    except console.NoContact:
        return _back_to_job(request, job_id, "no_contact")
    except console.LinkExpired:
        return _back_to_job(request, job_id, "expired")
    return _back_to_job(request, job_id, "resent")


async def revoke(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    session = _staff(request)
    await _checked_form(request, session.csrf)
    try:
        await runtime_of(request).console.revoke_link(job_id, session.username, client_key(request))
    except console.JobNotFound:
        return _problem(request, 404)
    return _back_to_job(request, job_id, "revoked")


async def rejected(request: Request) -> Response:
    found = await runtime_of(request).console.rejections(REJECTED_SHOWN)
    return _render(request, "staff/rejected.html", {"rejections": found})


async def audit(request: Request) -> Response:
    params = request.query_params
    job_id = params.get("job") or None
    username = params.get("user") or None
    page = console.page_number(params.get("page"))
    entries, has_more = await runtime_of(request).console.audit_page(page, job_id, username)
    context = {"entries": entries, "has_more": has_more, "page": page, "job_filter": job_id, "user_filter": username}
    return _render(request, "staff/audit.html", context)


# -- errors ----------------------------------------------------------------------------


def _problem(request: Request, status: int) -> Response:
    heading, message = PROBLEMS[status]
    if request.url.path.startswith(f"{staff_base(request.scope)}/api/"):
        return JSONResponse({"error": heading.lower().replace(" ", "_")}, status)
    return _render(request, "staff/problem.html", {"heading": heading, "message": message}, status)


async def _on_csrf(request: Request, exc: Exception) -> Response:
    return _problem(request, 403)


async def _on_store(request: Request, exc: Exception) -> Response:
    response = _problem(request, 503)
    response.headers["Retry-After"] = "5"
    return response


async def _on_http(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status in PROBLEMS:
        return _problem(request, status)
    headers = exc.headers if isinstance(exc, HTTPException) else None  # e.g. Allow on a 405
    return Response(status_code=status, headers=headers)


def create_staff_app(runtime: Runtime, auth: StaffAuth | None = None) -> Starlette:
    """The console as its own app, so one guard covers every route in it."""
    auth = auth or StaffAuth(runtime.settings, runtime.store)
    routes = [
        Route("/", search, methods=["GET"]),
        Route("/login", sign_in, methods=["GET", "POST"]),  # one route: a 405 lists both in Allow
        Route("/logout", logout, methods=["POST"]),
        Route("/jobs/{job_id}", job_page, methods=["GET"]),
        Route("/jobs/{job_id}/resend", resend, methods=["POST"]),
        Route("/jobs/{job_id}/revoke", revoke, methods=["POST"]),
        Route("/api/jobs/{job_id}", job_api, methods=["GET"]),
        Route("/rejected", rejected, methods=["GET"]),
        Route("/audit", audit, methods=["GET"]),
        *staff_insight.routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(StaffGuard, auth=auth)],
        exception_handlers={CsrfRejected: _on_csrf, StoreUnavailable: _on_store, HTTPException: _on_http},
        max_body_size=MAX_FORM_BYTES,
    )
    templates = make_templates(runtime.settings)
    templates.env.filters["in_zone"] = in_zone
    templates.env.filters["sentences"] = request_sentences
    templates.env.filters["understood"] = understood_sentence
    app.state.runtime = runtime
    app.state.auth = auth
    app.state.templates = templates
    return app


class StaffMount(Mount):
    """A Mount that also serves its bare prefix (``GET /staff?q=``) instead of redirecting."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        bare = scope.get("root_path", "") + self.path
        if scope["type"] == "http" and scope["path"] == bare:
            match, child = super().matches({**scope, "path": bare + "/"})
            return match, {**child, "path": bare + "/", "raw_path": (bare + "/").encode()}
        return super().matches(scope)


def mount(runtime: Runtime) -> Mount:
    return StaffMount("/staff", app=create_staff_app(runtime), name="staff")
