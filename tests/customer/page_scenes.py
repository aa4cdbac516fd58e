"""The tracking page's states for browser tests, screenshots and measurements.

Each scene posts real signed webhooks to a running portal. Pages reach only the test server:
map tiles and photos are answered by the browser itself with small generated images, so
nothing leaves the machine and screenshots still look like a map with photos.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, Route

from portal.runtime import Runtime
from tests.helpers import ThreadedServer, event, job_updated, post_event, sample_job, status_changed

HOME = (41.8868, -87.6574)  # sample_job's address
PHOTO_HOST = "photos.acme-field.example"
VEHICLE = "White Ford Transit, ACME 12"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Where screenshots go: a directory CI keeps as artefacts, or the system's temporary directory.
ARTEFACTS = Path(os.environ.get("PORTAL_TEST_ARTEFACTS") or Path(tempfile.gettempdir()) / "portal-artefacts")


def png(width: int, height: int, pixel: Any) -> bytes:
    """A PNG whose colour at (x, y) is ``pixel(x, y)`` -> (r, g, b)."""
    raw = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


TILE = png(256, 256, lambda x, y: (214, 220, 206) if x % 64 < 3 or y % 64 < 3 else (238, 240, 232))
PHOTO = png(320, 240, lambda x, y: (90 + x // 4, 110 + y // 4, 140))


def local_only(page: Page, server_url: str) -> list[str]:
    """Serve tiles and work photos from memory, refuse everything else that is not the server."""
    blocked: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if url.startswith(server_url):
            route.continue_()
        elif "tile.openstreetmap.org" in url:
            route.fulfill(body=TILE, content_type="image/png")
        elif PHOTO_HOST in url:
            route.fulfill(body=PHOTO, content_type="image/png")
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", handle)
    return blocked


def now_iso(seconds_ago: float = 0) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)).isoformat()


def ping(lat: float, lon: float, seconds_ago: float = 0) -> dict[str, Any]:
    data = {"job_id": "WO-1", "lat": lat, "lon": lon, "accuracy_m": 12.0, "recorded_at": now_iso(seconds_ago)}
    return event("technician.location", data)


def progress(step_id: str, title: str, **extra: Any) -> dict[str, Any]:
    data = {"job_id": "WO-1", "id": step_id, "title": title, "recorded_at": now_iso(), **extra}
    return event("job.progress", data)


def photo(name: str) -> str:
    return f"https://{PHOTO_HOST}/WO-1/{name}.png"


def post(http: httpx.Client, payload: dict[str, Any]) -> None:
    response = post_event(http, payload)
    assert response.status_code == 202, response.text


def book(http: httpx.Client, status: str, **changes: Any) -> None:
    technician = {
        "id": "T-7",
        "name": "Dana Whitfield",
        "photo_url": "https://cdn.example.com/t/7.jpg",
        "vehicle": VEHICLE,
    }
    post(http, job_updated(sample_job(status=status, technician=technician, **changes)))


def en_route(http: httpx.Client) -> None:
    """On the way: a trail of pings coming south toward the address."""
    book(http, "scheduled")
    post(http, status_changed("WO-1", "dispatched"))
    post(http, status_changed("WO-1", "en_route"))
    for i, lat in enumerate((41.9300, 41.9240, 41.9180, 41.9120)):
        post(http, ping(lat, -87.6574 + i * 0.0012, seconds_ago=40 - i * 10))


def on_site(http: httpx.Client) -> None:
    en_route(http)
    post(http, status_changed("WO-1", "in_progress"))
    post(http, progress("arrived", "Arrived and checked the old heater", percent=10))
    post(
        http,
        progress(
            "drain",
            "Old heater drained and disconnected",
            note="The shut-off valve was stiff; replaced it at no charge.",
            photo_url=photo("drain"),
            percent=40,
        ),
    )


def completed(http: httpx.Client) -> None:
    on_site(http)
    post(
        http, progress("install", "New 50-gallon heater installed and tested", photo_url=photo("install"), percent=100)
    )
    post(http, job_updated({"id": "WO-1", "invoice_url": "https://pay.acme.example/invoices/10442"}))
    post(http, status_changed("WO-1", "completed"))


SCENES = {"en-route": en_route, "on-site": on_site, "completed": completed}


def link(server: ThreadedServer, app: Any, job_id: str = "WO-1") -> str:
    portal: Runtime = app.state.runtime
    record = server.call(portal.store.get_job(job_id))
    return f"{server.url}/t/{portal.links.token(record.link_key)}"
