"""The ASGI app factory: ``create_app(settings)`` owns every connection through its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import BaseRoute, Mount

from portal.runtime import Runtime
from portal.settings import Settings
from portal.store.base import StoreUnavailable
from portal.web import brand, field, ops, staff, tracking, twilio
from portal.web.assets import AssetFiles, static_assets
from portal.web.brand import brand_style
from portal.web.errors import PortalApp, store_unavailable
from portal.web.security import SecurityHeaders, page_csp, style_source
from portal.web.templating import make_templates

GZIP_MINIMUM_BYTES = 1024  # smaller answers fit one packet anyway
GZIP_LEVEL = 6  # nearly level 9's size at a fraction of its CPU, on every page view


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or Runtime(settings)
    assets = static_assets()

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
        Mount("/static", AssetFiles(assets), name="static"),
    ]
    csp = page_csp(settings.map_tiles, settings.logo_url, styles=(style_source(brand_style(settings.brand_color)),))
    middleware = [
        # Pages, styles and scripts shrink to a third; event streams are never compressed
        # (Starlette skips text/event-stream: a compressor would hold events back).
        Middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=GZIP_LEVEL),
        Middleware(SecurityHeaders, csp=csp),
    ]
    app = PortalApp(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={StoreUnavailable: store_unavailable},
    )
    app.state.runtime = runtime
    app.state.templates = make_templates(settings, assets)
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
