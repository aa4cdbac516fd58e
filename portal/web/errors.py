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
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from portal.web.common import runtime_of
from portal.web.edge import Edge, server_error
from portal.web.security import CSP

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


async def server_error_answer(request: Request, exc: Exception) -> Response:
    """Starlette's plain 500 (it logs nothing here: ``Edge`` logs the error once it ends)."""
    return server_error()


class PortalApp(Starlette):
    """Starlette with one layer outside its error middleware, and forwarded headers believed
    only from ``PORTAL_TRUSTED_PROXIES``.

    ``Edge`` (portal/web/edge.py) puts the security headers on every response, the error
    handler's 500 included (a middleware added the usual way sits inside that handler and never
    sees its answer), compresses what is worth it and keeps the connection after a 500.
    uvicorn's own forwarded-header handling is turned off where ``portal`` starts it, so every
    layer, logs included, sees the client; with no trusted proxy there is nothing to rewrite
    and that layer is left out.
    """

    def __init__(
        self,
        *args: Any,
        trusted_proxies: tuple[str, ...] = (),
        csp: str = CSP,
        gzip_minimum: int,
        gzip_level: int,
        **kwargs: Any,
    ) -> None:
        self.trusted_proxies = list(trusted_proxies)
        self.edge_options = {"csp": csp, "gzip_minimum": gzip_minimum, "gzip_level": gzip_level}
        super().__init__(*args, **kwargs)
        self.exception_handlers.setdefault(500, server_error_answer)

    def build_middleware_stack(self) -> ASGIApp:
        edge = Edge(super().build_middleware_stack(), **self.edge_options)  # type: ignore[arg-type]
        if not self.trusted_proxies:
            return edge
        proxied = ProxyHeadersMiddleware(edge, trusted_hosts=self.trusted_proxies)  # type: ignore[arg-type]
        return cast(ASGIApp, proxied)  # uvicorn types ASGI more narrowly than Starlette
