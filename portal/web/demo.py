"""``/demo/phone``: the demo customers' phones (mounted by ``portal demo`` only).

It works without JavaScript: the reply form POSTs (with a CSRF token) and answers 303 back to
the page; ``static/js/demo-phone.js`` reloads the page when a new message arrives.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.demo import phone
from portal.web.common import runtime_of

PATH = "/demo/phone"
CSRF_COOKIE = "portal_demo_csrf"
CSRF_BYTES = 32
MAX_FORM_BYTES = 8 * 1024  # a text message is at most 1600 characters
MAX_FORM_FIELDS = 5
NO_STORE = {"Cache-Control": "no-store"}


def _token(request: Request) -> str:
    current = request.cookies.get(CSRF_COOKIE, "")
    return current if len(current) >= CSRF_BYTES else secrets.token_urlsafe(CSRF_BYTES)


async def page(request: Request) -> Response:
    runtime = runtime_of(request)
    found = await phone.phones(runtime.store, runtime.links, runtime.public_url)
    translations = runtime.translations
    token = _token(request)
    context = {
        "phones": [(p, translations.localizer(p.locale)) for p in found],
        "csrf_token": token,
        "done": request.query_params.get("done") in ("sent",),
        "simulated": phone.SIMULATED,
        "i18n": translations.negotiate(request.headers.get("accept-language")),
    }
    response: Response = request.app.state.templates.TemplateResponse(
        request, "pages/demo_phone.html", context, headers=NO_STORE
    )
    # Double-submit token: the form must carry the value of this cookie, which other sites cannot read.
    response.set_cookie(CSRF_COOKIE, token, path="/demo", httponly=True, samesite="strict")
    return response


async def version(request: Request) -> Response:
    runtime = runtime_of(request)
    found = await phone.phones(runtime.store, runtime.links, runtime.public_url)
    return JSONResponse({"version": phone.version(found)}, headers=NO_STORE)


async def reply(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)  # the route limits the body size
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = form.get("csrf_token")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        return Response("The form expired: reload the demo phone page and try again.", 403, headers=NO_STORE)
    job_id, body = form.get("job_id"), form.get("body")
    try:
        await phone.reply(runtime_of(request).conversation, str(job_id or ""), str(body or ""))
    except phone.ReplyRefused:
        return RedirectResponse(PATH, 303, headers=NO_STORE)
    return RedirectResponse(f"{PATH}?done=sent#{job_id}", 303, headers=NO_STORE)


routes = [
    Route(PATH, page, methods=["GET"]),
    Route(f"{PATH}/version", version, methods=["GET"]),
    Route(f"{PATH}/reply", reply, methods=["POST"], max_body_size=MAX_FORM_BYTES),
]
