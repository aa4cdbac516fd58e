"""How failures are answered: a store outage is a 503 to retry, and a 500 keeps the connection.

A store outage (Redis restarting, SQLite locked or full) is expected and short: every route
answers it the same way, a friendly page for browsers and ``503`` with ``Retry-After`` for
machines, so Twilio and the field system retry and an open page reconnects later.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.web.common import runtime_of

log = logging.getLogger("portal.web")

# Long enough for Redis to restart or a SQLite writer to finish, short enough that a customer
# reloading the page, or Twilio retrying, gets through soon after.
RETRY_AFTER_SECONDS = 5
UNAVAILABLE_HEADERS = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """``StoreUnavailable`` anywhere outside the staff console (which has its own page)."""
    log.warning("store unavailable, answering 503 to %s %s: %s", request.method, request.url.path, exc)
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": "store_unavailable"}, 503, headers=UNAVAILABLE_HEADERS)
    loc = runtime_of(request).translations.negotiate(request.headers.get("accept-language"))
    context = {"heading": loc.t("problem.503.heading"), "message": loc.t("problem.503.message"), "i18n": loc}
    response: Response = request.app.state.templates.TemplateResponse(
        request, "pages/link_problem.html", context, status_code=503, headers=UNAVAILABLE_HEADERS
    )
    return response


class KeepConnectionOnError:
    """Ends a request that failed after its 500 was sent as a completed exchange.

    Starlette's ``ServerErrorMiddleware`` sends the 500 and then re-raises for the server to
    log; uvicorn, seeing an exception after the response started, closes the connection, so
    the client's next request on that kept-alive connection fails too. Here the exception is
    logged and swallowed once the response is complete; a response cut off halfway is still
    re-raised, since closing is then the only honest end.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        complete = False

        async def watch(message: Message) -> None:
            nonlocal complete
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if not complete:
                raise
            log.exception("error in %s %s (answered 500)", scope.get("method"), scope.get("path"))


class PortalApp(Starlette):
    """Starlette with ``KeepConnectionOnError`` outside its error middleware."""

    def build_middleware_stack(self) -> ASGIApp:
        return KeepConnectionOnError(super().build_middleware_stack())
