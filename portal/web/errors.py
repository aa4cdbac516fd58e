"""How failures are answered: a store outage is a 503 to retry, and a 500 keeps the connection.

A store outage (Redis restarting, SQLite locked or full) is expected and short: every route
answers it the same way, a friendly page for browsers and ``503`` with ``Retry-After`` for
machines, so Twilio and the field system retry and an open page reconnects later. A client
that hangs up mid-request is routine, and logged as one quiet line.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from portal.web.common import runtime_of
from portal.web.security import SecurityHeaders

log = logging.getLogger("portal.web")

# Long enough for Redis to restart or a SQLite writer to finish, short enough that a customer
# reloading the page, or Twilio retrying, gets through soon after.
RETRY_AFTER_SECONDS = 5
UNAVAILABLE_HEADERS = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
CLIENT_CLOSED_REQUEST = 499  # nginx's name for it; the client is gone and never sees the answer


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """A client that hung up while sending its body: routine on mobile networks, one quiet line."""
    client = request.client.host if request.client else "unknown"
    log.info("client %s disconnected before its request to %s was read", client, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


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
    """Starlette with three layers outside its error middleware.

    Security headers go on every response, the error handler's 500 included (a middleware
    added the usual way sits inside that handler and never sees its answer);
    ``KeepConnectionOnError`` keeps the connection after a 500; forwarded headers are believed
    only from ``PORTAL_TRUSTED_PROXIES`` (uvicorn's own handling is turned off where ``portal``
    starts it), so every layer, logs included, sees the client.
    """

    def __init__(self, *args: Any, trusted_proxies: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.trusted_proxies = list(trusted_proxies)
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        inner = KeepConnectionOnError(SecurityHeaders(super().build_middleware_stack()))
        proxied = ProxyHeadersMiddleware(inner, trusted_hosts=self.trusted_proxies)  # type: ignore[arg-type]
        return cast(ASGIApp, proxied)  # uvicorn types ASGI more narrowly than Starlette
