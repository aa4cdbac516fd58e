"""The operator's brand on pages: the colour as an inline style, and a favicon.

The colour from ``PORTAL_BRAND_COLOR`` reaches pages as one tiny inline ``<style>`` allowed by
its hash in the Content-Security-Policy (``brand_style``), not as a second stylesheet that
would hold up the first paint. Without a logo to use as the icon, the favicon is a neutral
dot in the brand colour, drawn here, so ``/favicon.ico`` never answers 404.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.web.common import runtime_of

ICON_SIZE = 32  # pixels: the size browsers ask for in tabs and bookmarks
CACHE_SECONDS = 86400  # a changed colour shows within a day of a restart; tabs ask once
ICON_HEADERS = {"Cache-Control": f"public, max-age={CACHE_SECONDS}"}


def brand_style(color: str) -> str:
    """The inline style that sets ``--brand`` (``static/css/portal.css``); ``color`` is ``#rrggbb``."""
    return f":root{{--brand:{color}}}"


def icon_svg(color: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        f'<circle cx="16" cy="16" r="15" fill="{color}"/><circle cx="16" cy="16" r="6" fill="#fff"/></svg>'
    )


@cache
def icon_ico(color: str) -> bytes:
    """The same dot as a 32x32 PNG inside an ICO file, for clients that only ask ``/favicon.ico``."""
    rgb = bytes.fromhex(color.removeprefix("#"))
    white = b"\xff\xff\xff\xff"
    rows = []
    centre = (ICON_SIZE - 1) / 2
    for y in range(ICON_SIZE):
        row = bytearray(b"\x00")  # PNG filter type: none
        for x in range(ICON_SIZE):
            r = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5
            row += white if r <= ICON_SIZE * 0.19 else rgb + b"\xff" if r <= ICON_SIZE * 0.47 else b"\x00" * 4
        rows.append(bytes(row))
    png = _png(ICON_SIZE, b"".join(rows))
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", ICON_SIZE, ICON_SIZE, 0, 0, 1, 32, len(png), 6 + 16)
    return header + entry + png


def _png(size: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


async def favicon_svg(request: Request) -> Response:
    color = runtime_of(request).settings.brand_color  # validated as #rrggbb at start-up
    return Response(icon_svg(color), media_type="image/svg+xml", headers=ICON_HEADERS)


async def favicon_ico(request: Request) -> Response:
    color = runtime_of(request).settings.brand_color
    return Response(icon_ico(color), media_type="image/x-icon", headers=ICON_HEADERS)


routes = [
    Route("/favicon.svg", favicon_svg, methods=["GET"]),
    Route("/favicon.ico", favicon_ico, methods=["GET"]),
]
