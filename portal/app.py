"""The ASGI app factory: ``create_app(settings)`` owns every connection through its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from portal.resources import data_dir
from portal.runtime import Portal
from portal.settings import Settings
from portal.web import brand, field, ops, staff, tracking, twilio
from portal.web.errors import client_disconnected
from portal.web.security import SecurityHeaders
from portal.web.templating import make_templates


def create_app(settings: Settings, *, portal: Portal | None = None) -> Starlette:
    portal = portal or Portal(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await portal.start()
        try:
            yield
        finally:
            await portal.stop()

    routes = [
        *ops.routes,
        *field.routes,
        *tracking.routes,
        *twilio.routes,
        *brand.routes,
        *_demo_routes(settings),
        staff.mount(portal),
        Mount("/static", StaticFiles(directory=data_dir("static")), name="static"),
    ]
    app = PortalApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ClientDisconnect: client_disconnected},
        trusted_proxies=settings.trusted_proxies,
    )
    app.state.portal = portal
    app.state.templates = make_templates(settings)
    return app


class PortalApp(Starlette):
    """Starlette with two layers outside its error handler.

    Security headers go on every response, the error handler's 500 included (a middleware
    added the usual way sits inside that handler and never sees its answer). Forwarded
    headers are believed only from ``PORTAL_TRUSTED_PROXIES`` (uvicorn's own handling is
    turned off where ``portal`` starts it), so every layer, logs included, sees the client.
    """

    def __init__(self, *args: Any, trusted_proxies: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.trusted_proxies = list(trusted_proxies)
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        inner = SecurityHeaders(super().build_middleware_stack())
        proxied = ProxyHeadersMiddleware(inner, trusted_hosts=self.trusted_proxies)  # type: ignore[arg-type]
        return cast(ASGIApp, proxied)  # uvicorn types ASGI more narrowly than Starlette


def _demo_routes(settings: Settings) -> list[BaseRoute]:
    """The demo phone exists only under ``portal demo``: it lets anyone reply as a customer."""
    if not settings.demo:
        return []
    from portal.web import demo

    return list(demo.routes)


def app_from_env() -> Starlette:
    """The app of one ``portal serve --workers N`` process: settings read from its environment."""
    from portal.settings import from_env

    return create_app(from_env())
