"""The ASGI app factory: ``create_app(settings)`` owns every connection through its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from portal.resources import data_dir
from portal.runtime import Runtime
from portal.settings import Settings
from portal.store.base import StoreUnavailable
from portal.web import brand, field, ops, staff, tracking, twilio
from portal.web.errors import PortalApp, client_disconnected, store_unavailable
from portal.web.templating import make_templates


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    routes = [
        *ops.routes,
        *field.routes,
        *tracking.routes,
        *twilio.routes,
        *brand.routes,
        *_demo_routes(settings),
        staff.mount(runtime),
        Mount("/static", StaticFiles(directory=data_dir("static")), name="static"),
    ]
    app = PortalApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={StoreUnavailable: store_unavailable, ClientDisconnect: client_disconnected},
        trusted_proxies=settings.trusted_proxies,
    )
    app.state.runtime = runtime
    app.state.templates = make_templates(settings)
    return app


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
