"""The ASGI app factory: ``create_app(settings)`` owns every connection through its lifespan.

Also how ``portal serve`` and ``portal demo`` run uvicorn (``uvicorn_options``): its limits,
and no proxy handling of its own. Forwarded headers are handled inside the app
(``PORTAL_TRUSTED_PROXIES``, see ``portal/web/errors.py``), so uvicorn must not rewrite the
client address first from its own, different list.
"""

from __future__ import annotations

import gc
import resource
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Mount
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from portal.runtime import Runtime
from portal.settings import Settings
from portal.store.base import StoreUnavailable
from portal.web import brand, field, ops, staff, tracking, twilio
from portal.web.assets import AssetFiles, static_assets
from portal.web.brand import brand_style
from portal.web.errors import PortalApp, client_disconnected, store_unavailable
from portal.web.security import page_csp, style_source
from portal.web.templating import make_templates

GZIP_MINIMUM_BYTES = 1024  # smaller answers fit one packet anyway
GZIP_LEVEL = 6  # nearly level 9's size at a fraction of its CPU, on every page view


# Idle keep-alive connections are closed after this long: a browser reopens one in a few ms,
# while each idle socket held open costs a file descriptor.
KEEP_ALIVE_SECONDS = 5
# The largest request head (request line and headers) accepted; browsers send 1-4 KiB, and a
# staff cookie is well under 1 KiB. Larger heads are refused before they are buffered further.
MAX_HEADER_BYTES = 32 * 1024
# File descriptors kept back from the concurrency cap for the store, Redis, SMTP, Twilio and logs.
FD_RESERVE = 64
MIN_CONCURRENCY = 64  # never below this, even with a tiny descriptor limit
# Objects allocated (net) between young-generation collections; CPython's default is 700.
# A serving process holds many long-lived objects (every open page's request, task and
# subscription), and at 700 the objects of requests still in flight are promoted at once, so
# full collections walking everything come every few seconds: with 5,000 pages open they
# took a quarter of the event loop's time, up to 0.4 s each (docs/benchmarks.md).
GC_YOUNG_THRESHOLD = 10_000


def concurrency_limit() -> int:
    """Connections and tasks uvicorn serves at once before answering 503: what descriptors allow.

    Past this the process would fail to accept (or to open its store) for lack of descriptors,
    taking health checks down with it; a 503 to the surplus keeps everyone else served.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(MIN_CONCURRENCY, soft - FD_RESERVE)


HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 32\r\nconnection: close\r\n\r\nRequest header fields too large.\n"
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a limit on the request head.

    httptools buffers a header of any size until it is complete; this counts what arrives
    while a request's head is still incomplete and answers 431 past ``MAX_HEADER_BYTES``.
    A chunk that completes the head (and may carry the body) is not counted.
    """

    _in_head = False
    _head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEADER_BYTES:
            self.transport.write(HEAD_TOO_LARGE)
            self.transport.close()


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``.

    Slow senders (a byte every few seconds) are the proxy's to cut off: uvicorn has no
    header or body read timeout; docs/deployment.md says what the proxy must set.
    """
    return {
        # An import string: ``serve --workers N`` hands the options to new processes.
        "http": "portal.app:BoundedHttpToolsProtocol",
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": concurrency_limit(),
        "proxy_headers": False,
        "server_header": False,
    }


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or Runtime(settings)
    assets = static_assets()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        collector = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *collector[1:])
        try:
            yield
        finally:
            gc.set_threshold(*collector)  # the process may go on (tests run many apps in one)
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
    app = PortalApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={StoreUnavailable: store_unavailable, ClientDisconnect: client_disconnected},
        trusted_proxies=settings.trusted_proxies,
        # Pages, styles and scripts shrink to a third; event streams are never compressed
        # (a compressor would hold events back).
        csp=csp,
        gzip_minimum=GZIP_MINIMUM_BYTES,
        gzip_level=GZIP_LEVEL,
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
