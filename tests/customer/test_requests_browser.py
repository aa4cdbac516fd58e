"""A real Chromium: a reschedule request, then the field system's confirmation, shown without a reload."""

from __future__ import annotations

import contextlib
import re

import httpx
import pytest
from playwright.sync_api import Browser, Route, expect

from portal.app import create_app
from portal.settings import Settings
from tests.helpers import ThreadedServer, job_updated, post_event, sample_job

pytestmark = pytest.mark.browser
SLOT = {"start": "2030-03-04T09:00:00-06:00", "end": "2030-03-04T11:00:00-06:00"}


def test_a_confirmed_reschedule_shows_without_a_reload(settings: Settings, browser: Browser) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert post_event(http, job_updated(sample_job(reschedule_slots=[SLOT]))).status_code == 202
        link = server.call(app.state.runtime.link_url("WO-1"))
        path = re.sub(r"^https?://[^/]+", "", link)
        # Closed before the server stops: an open event stream would hold its shutdown for 15 s.
        with contextlib.closing(browser.new_page()) as page:

            def local_only(route: Route) -> None:
                if route.request.url.startswith(server.url):
                    route.continue_()
                else:
                    route.abort()

            page.route("**/*", local_only)
            page.goto(server.url + path)
            expect(page.locator("#reschedule")).to_be_visible()
            expect(page.locator("#reschedule-pending")).to_be_hidden()
            page.locator('input[name="slot"]').first.check()
            page.locator("#reschedule button[type=submit]").click()
            expect(page.locator("#reschedule-pending")).to_be_visible()
            expect(page.locator("html[data-live]")).to_have_count(1)
            page.evaluate("window.notReloaded = true")
            confirmed = sample_job(window=SLOT, reschedule_slots=[])
            assert post_event(http, job_updated(confirmed)).status_code == 202
            expect(page.locator("#reschedule-pending")).to_be_hidden()
            expect(page.locator('[data-field="window"]').first).to_contain_text("March 4")
            assert page.evaluate("window.notReloaded") is True
