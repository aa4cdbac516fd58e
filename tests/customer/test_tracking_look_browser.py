"""The tracking page in a real Chromium: both ends on the map with the trail and the route, work
on site arriving live, stars by keyboard, no serious accessibility findings, a stable layout,
and screenshots of each state at phone and desktop size (kept under ``page_scenes.ARTEFACTS``)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from portal.app import create_app
from portal.clock import utc_now
from portal.core import route as road
from portal.core.jobs import Job
from portal.core.public import live_events
from portal.runtime import Runtime
from portal.settings import Settings
from portal.store.base import Decision
from tests.customer import page_scenes as scenes
from tests.helpers import ThreadedServer, free_port, sample_job

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
SERIOUS = {"serious", "critical"}
MAX_CLS = 0.02  # the layout-shift budget of the issue: the map's space is reserved from the first paint
LAYOUT_SHIFTS = """
window.cls = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) { if (!entry.hadRecentInput) { window.cls += entry.value; } }
}).observe({ type: "layout-shift", buffered: true });
"""


def open_page(browser: Browser, url: str, server_url: str, viewport: dict[str, int] = scenes.PHONE) -> Page:
    page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    scenes.local_only(page, server_url)
    page.goto(url)
    expect(page.locator("html[data-live='1']")).to_have_count(1)
    return page


def inside(page: Page, selector: str) -> bool:
    """Whether the element is drawn within the map's box."""
    box, mark = page.locator("#map").bounding_box(), page.locator(selector).bounding_box()
    assert box is not None and mark is not None
    cx, cy = mark["x"] + mark["width"] / 2, mark["y"] + mark["height"] / 2
    return box["x"] <= cx <= box["x"] + box["width"] and box["y"] <= cy <= box["y"] + box["height"]


ROUTE_SECONDS = 600.0  # what the routing engine would say: any plausible drive
ROUTE_METRES = 4000.0


def set_route(server: ThreadedServer, portal: Runtime, coordinates: list[list[float]]) -> None:
    """Store a road route the way routing does (CONTRACT §10) and push its live events."""

    def decide(before: Job | None) -> Decision:
        assert before is not None
        after = road.stored(before, coordinates, ROUTE_SECONDS, ROUTE_METRES, utc_now())
        return Decision(job=after, events=live_events(before, after, utc_now()), outbox=[])

    server.call(portal.changes.change("WO-1", decide))


@pytest.mark.long(5)
def test_both_ends_the_trail_and_the_route_follow_pings_without_reload(settings: Settings, browser: Browser) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        scenes.book(http, "en_route")
        scenes.post(http, scenes.ping(41.9300, -87.6574))
        page = open_page(browser, scenes.link(server, app), server.url)
        page.evaluate("window.sameDocument = true")
        box = page.locator("#map")
        expect(box).to_have_attribute("data-lat", "41.93")
        expect(box).to_have_attribute("data-trail", "1")
        expect(page.locator("#map .map-home")).to_have_count(1)
        assert inside(page, "#map .map-home") and inside(page, "#map .map-tech")  # fitted to both ends
        expect(page.locator("#legend-home")).to_be_visible()

        scenes.post(http, scenes.ping(41.9100, -87.6574))  # far enough that a jump would be obvious
        expect(box).to_have_attribute("data-lat", "41.91")
        expect(box).to_have_attribute("data-trail", "2")
        scenes.post(http, scenes.ping(41.9000, -87.6600))
        expect(box).to_have_attribute("data-trail", "3")
        trail = page.locator("#map .map-trail").get_attribute("d") or ""
        assert trail.count("L") == 2  # three positions: a line with two segments
        assert inside(page, "#map .map-home") and inside(page, "#map .map-tech")

        portal: Runtime = app.state.runtime
        set_route(server, portal, [[-87.6600, 41.9000], [-87.6574, 41.8950], [-87.6574, 41.8868]])
        expect(page.locator("#map .map-route")).to_have_attribute("d", re.compile(r"^M.*L.*L"))  # three points
        assert page.evaluate("window.sameDocument") is True
        page.close()


def test_a_stale_position_is_shown_as_stale(settings: Settings, browser: Browser) -> None:
    app = create_app(replace(settings, location_stale_seconds=60))
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        scenes.book(http, "en_route")
        scenes.post(http, scenes.ping(41.9300, -87.6574, seconds_ago=120))
        page = open_page(browser, scenes.link(server, app), server.url)
        expect(page.locator("#map")).to_have_attribute("data-stale", "1")
        expect(page.locator(".legend-stale")).to_be_visible()
        expect(page.locator(".legend-tech")).to_be_hidden()
        page.close()


def test_a_progress_step_appears_live_and_its_id_updates_it(settings: Settings, browser: Browser) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        scenes.book(http, "in_progress")
        page = open_page(browser, scenes.link(server, app), server.url)
        expect(page.locator("#work")).to_be_hidden()
        scenes.post(http, scenes.progress("drain", "Old heater drained", photo_url=scenes.photo("drain"), percent=40))
        steps = page.locator("#work-steps li")
        expect(steps).to_have_count(1)
        expect(steps.first).to_contain_text("Old heater drained")
        expect(steps.first).to_contain_text("40% done")
        image = steps.first.locator("a.work-photo img")
        expect(image).to_have_attribute("alt", "Old heater drained")
        expect(image).to_have_attribute("loading", "lazy")
        assert page.locator("a.work-photo").get_attribute("href") == scenes.photo("drain")
        scenes.post(http, scenes.progress("drain", "Old heater drained and removed", percent=60))
        expect(steps).to_have_count(1)
        expect(steps.first).to_contain_text("removed")
        expect(steps.first).to_contain_text("60% done")
        expect(page.locator("[data-step='on_site']")).to_have_attribute("aria-current", "step")
        page.close()


def test_the_stars_are_a_radio_group_operable_by_keyboard(settings: Settings, browser: Browser) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        scenes.book(http, "completed")
        url = scenes.link(server, app)
        page = open_page(browser, url, server.url)
        page.locator("#star-1").focus()
        page.keyboard.press("Space")
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        expect(page.locator("#star-4")).to_be_checked()
        lit = [page.locator(f"label[for='star-{n}']").evaluate("e => getComputedStyle(e).color") for n in range(1, 6)]
        assert lit[0] == lit[3] != lit[4]  # four stars lit, the fifth not
        name = page.locator("#star-4").evaluate("e => e.labels[0].textContent")
        assert name == "4 out of 5"
        page.keyboard.press("Enter")  # submits the form, like any radio group
        expect(page.locator("#rating")).to_contain_text("You rated this visit 4 out of 5")
        assert http.get(url.removeprefix(server.url) + "/state").json()["rating"]["score"] == 4
        page.close()


def run_axe(page: Page) -> list[dict[str, Any]]:
    page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated by the test driver: the page's CSP does not apply
    result = page.evaluate("async () => JSON.stringify((await axe.run(document)).violations)")
    found: list[dict[str, Any]] = json.loads(result)
    return found


@pytest.mark.long(6)
@pytest.mark.parametrize("scene", list(scenes.SCENES))
def test_each_state_is_accessible_stable_and_photographed(settings: Settings, browser: Browser, scene: str) -> None:
    app = create_app(replace(settings, support_phone="+1 312 555 0100", support_email="help@acme.example"))
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        scenes.SCENES[scene](http)
        url = scenes.link(server, app)
        scenes.ARTEFACTS.mkdir(parents=True, exist_ok=True)
        for size, viewport in (("phone", scenes.PHONE), ("desktop", scenes.DESKTOP)):
            page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
            scenes.local_only(page, server.url)
            page.add_init_script(LAYOUT_SHIFTS)
            page.goto(url)
            expect(page.locator("html[data-live='1']")).to_have_count(1)
            if scene == "en-route":
                expect(page.locator("#map .map-tech")).to_have_count(1)
                page.wait_for_timeout(2000)  # let the marker's glide and the tiles settle for the picture
            assert page.evaluate("window.cls") < MAX_CLS  # before the full-page screenshot resizes the view
            page.screenshot(path=str(scenes.ARTEFACTS / f"tracking-{scene}-{size}.png"), full_page=True)
            serious = [v["id"] for v in run_axe(page) if v["impact"] in SERIOUS]
            assert serious == [], f"{scene} at {size} size: {serious}"
            page.close()


@pytest.mark.long(2)
def test_spanish_pages_label_the_map_controls_in_spanish(settings: Settings, browser: Browser) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        customer = {**sample_job()["customer"], "locale": "es-MX"}
        scenes.book(http, "en_route", customer=customer)
        scenes.post(http, scenes.ping(41.9300, -87.6574))
        page = open_page(browser, scenes.link(server, app), server.url)
        expect(page.locator(".leaflet-control-zoom-in")).to_have_attribute("aria-label", "Acercar")
        expect(page.locator(".leaflet-control-zoom-out")).to_have_attribute("aria-label", "Alejar")
        expect(page.locator("[data-step='on_the_way']")).to_contain_text("En camino")
        page.close()


NARROW = {"width": 320, "height": 640}  # the narrowest phone still sold


@pytest.mark.parametrize("brand", ["wide logo", "long name"])
def test_the_header_fits_a_narrow_phone_with_its_call_button(settings: Settings, browser: Browser, brand: str) -> None:
    port = free_port()
    server_url = f"http://127.0.0.1:{port}"
    if brand == "wide logo":  # the demo's logo: a drop and the name, 260 by 32
        settings = replace(settings, logo_url=f"{server_url}/static/demo/logo.svg")
    else:
        settings = replace(settings, company_name="Acme Plumbing, Heating, Cooling & Drains of Greater Chicagoland")
    app = create_app(replace(settings, support_phone="+1 312 555 0100"))
    with ThreadedServer(app, port=port) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        scenes.book(http, "scheduled")
        page = open_page(browser, scenes.link(server, app), server.url, NARROW)
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
        call = page.locator(".brand-call").bounding_box()
        assert call is not None and call["x"] + call["width"] <= NARROW["width"]
        page.close()
