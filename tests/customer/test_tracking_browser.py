"""A real Chromium on the tracking page: live ETA and a moving marker without a reload, and no
position left on the page once the technician has arrived. Tiles are never fetched."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from portal.app import create_app
from portal.runtime import Runtime
from portal.settings import Settings
from portal.web import humanize
from tests.helpers import ThreadedServer, event, job_updated, post_event, sample_job, status_changed

pytestmark = pytest.mark.browser
HOME = (41.8868, -87.6574)  # sample_job's address
LOADED_MACHINE_MS = 15_000  # a failed image's error event can take seconds on a busy machine
GLIDE_STEPS = 5  # a 1.5 s glide redraws the marker dozens of times; a jump redraws it once
# Counts redraws of the technician's marker (the last vector path on the map).
TRACE_MARKER = """
window.markerSteps = 0;
const path = document.querySelectorAll("#map path");
new MutationObserver(() => { window.markerSteps += 1; })
  .observe(path[path.length - 1], { attributes: true, attributeFilter: ["d"] });
"""


def ping(lat: float, lon: float) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    data = {"job_id": "WO-1", "lat": lat, "lon": lon, "accuracy_m": 12.0, "recorded_at": now}
    return event("technician.location", data)


def offline(page: Page, server_url: str) -> list[str]:
    """Let the page reach only the test server; everything else (map tiles) is aborted and listed."""
    blocked: list[str] = []

    def handle(route: Route) -> None:
        if route.request.url.startswith(server_url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return blocked


@pytest.mark.long(5)
def test_eta_and_marker_follow_the_technician_live(settings: Settings, browser: Browser) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert post_event(http, job_updated(sample_job(status="en_route"))).status_code == 202
        assert post_event(http, ping(41.9300, -87.6574)).status_code == 202
        portal: Runtime = app.state.runtime
        record = server.call(portal.store.get_job("WO-1"))
        path = f"/t/{portal.links.token(record.link_key)}"

        page = browser.new_page()
        blocked = offline(page, server.url)
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(server.url + path)
        page.evaluate("window.sameDocument = true")
        expect(page.locator("html[data-live='1']")).to_have_count(1)

        minutes = page.locator("#eta-live [data-field='eta_minutes']")
        expect(page.locator("#eta-live")).to_be_visible()
        first_minutes = minutes.text_content()
        map_box = page.locator("#map")
        expect(map_box).to_be_visible()
        expect(map_box).to_have_attribute("data-lat", "41.93")
        expect(page.locator("#map-attribution")).to_have_text("© OpenStreetMap contributors")
        marker = page.locator("#map path").last
        first_path = marker.get_attribute("d")
        page.evaluate(TRACE_MARKER)

        assert post_event(http, ping(41.9270, -87.6574)).status_code == 202  # 330 m on: stays in view
        expect(map_box).to_have_attribute("data-lat", "41.927")
        assert marker.get_attribute("d") != first_path
        assert page.evaluate("window.markerSteps") >= GLIDE_STEPS  # it glided there, it did not jump

        assert post_event(http, ping(41.8950, -87.6574)).status_code == 202
        expect(map_box).to_have_attribute("data-lat", "41.895")
        expect(minutes).not_to_have_text(first_minutes or "")
        state = http.get(path + "/state").json()
        distance = humanize.distance(state["eta"]["distance_m"])
        expect(page.locator("[data-field='eta_distance']")).to_have_text(distance)
        expect(page.locator("[data-field='eta_updated']")).to_contain_text("ago")

        assert post_event(http, ping(HOME[0] + 0.001, HOME[1])).status_code == 202  # about 110 m away
        expect(page.locator("#eta-arriving")).to_be_visible()
        expect(page.locator("#eta-live")).to_be_hidden()

        assert post_event(http, status_changed("WO-1", "in_progress")).status_code == 202
        expect(page.locator("[data-field='status_label']")).to_have_text("Technician on site")
        expect(page.locator("#location")).to_be_hidden()
        expect(page.locator("#eta")).to_be_hidden()
        expect(page.locator("#map")).to_be_hidden()
        assert page.locator("#map .leaflet-pane").count() == 0
        assert page.locator("#map").get_attribute("data-lat") is None

        assert page.evaluate("window.sameDocument") is True  # never reloaded
        hosts = {urlsplit(url).netloc for url in blocked}
        assert "tile.openstreetmap.org" in hosts  # tiles were asked for, and never fetched
        assert hosts <= {"tile.openstreetmap.org", "cdn.example.com"}  # tiles and the technician's photo
        assert problems == []
        page.close()  # end the live stream before the server stops


def test_the_page_without_javascript_says_how_far_and_when(settings: Settings, browser: Browser) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        post_event(http, job_updated(sample_job(status="en_route")))
        post_event(http, ping(41.9300, -87.6574))
        portal: Runtime = app.state.runtime
        record = server.call(portal.store.get_job("WO-1"))
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        offline(page, server.url)
        page.goto(f"{server.url}/t/{portal.links.token(record.link_key)}")
        expect(page.locator("#eta-live")).to_contain_text("minutes away")
        expect(page.locator("[data-field='eta_distance']")).to_have_text("4.8 km (3.0 mi)")
        expect(page.locator("#map")).to_be_hidden()
        context.close()


def test_a_photo_that_fails_shows_the_initial_and_stays_hidden_through_updates(
    settings: Settings, browser: Browser
) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert post_event(http, job_updated(sample_job(status="en_route"))).status_code == 202
        portal: Runtime = app.state.runtime
        record = server.call(portal.store.get_job("WO-1"))
        page = browser.new_page()
        blocked = offline(page, server.url)  # the photo's host cannot be reached
        page.goto(server.url + f"/t/{portal.links.token(record.link_key)}")
        expect(page.locator("html[data-live='1']")).to_have_count(1)
        photo, initial = page.locator("img.tech-photo"), page.locator("[data-field='tech_initial']")
        expect(photo).to_be_hidden(timeout=LOADED_MACHINE_MS)  # no broken-image icon
        expect(initial).to_have_text("D")
        # An update with the same photo re-renders the technician: the failed photo stays hidden.
        assert post_event(http, job_updated(sample_job(status="en_route", service="Boiler service"))).status_code == 202
        expect(page.locator("[data-field='service']").first).to_have_text("Boiler service")
        expect(photo).to_be_hidden(timeout=LOADED_MACHINE_MS)
        assert any("cdn.example.com" in url for url in blocked)
        page.close()
