"""A real Chromium against a real server: the attention queue updates live; the new pages pass axe-core."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from portal.app import create_app
from portal.settings import Settings
from portal.staff.passwords import hash_password
from tests.helpers import ThreadedServer, job_updated, post_event, sample_job
from tests.staff_support import PASSWORD, TEST_COST

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
HOSTILE = "<img src=x onerror=alert(1)>"


def run_axe(page: Page) -> list[dict[str, Any]]:
    page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated by the test driver: the page's CSP does not apply
    found: list[dict[str, Any]] = json.loads(
        page.evaluate("async () => JSON.stringify((await axe.run(document)).violations)")
    )
    return found


def sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/staff/login")
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/staff/attention")  # the landing page after sign-in


@pytest.mark.long(2)
def test_the_queue_updates_live_and_acknowledges(settings: Settings, browser: Browser) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        server.call(app.state.runtime.store.save_staff_account("ann", hash_password(PASSWORD, TEST_COST), "UTC"))
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        sign_in(page, server.url)
        expect(page.get_by_text("Nobody needs attention right now.")).to_be_visible()
        assert run_axe(page) == []

        # A job nobody can reach arrives while the page is open: it appears without a reload.
        job = sample_job("WO-77", reference=HOSTILE, customer={"name": "Sam"})
        assert post_event(http, job_updated(job)).status_code == 202
        row = page.get_by_role("row").filter(has_text="No usable phone or email")
        expect(row).to_be_visible()
        expect(row.get_by_role("link", name=HOSTILE)).to_be_visible()  # shown as text, never run
        # The live row explains its reason as the server-drawn one does.
        expect(row.locator("li.reason-contact_invalid")).to_have_attribute("title", re.compile("no phone number"))
        expect(page.locator("#queue-status")).to_have_text("1 job waiting.")
        assert run_axe(page) == []

        row.get_by_role("button", name="Acknowledge").click()
        expect(page.get_by_role("status").first).to_contain_text("current reasons were cleared")
        expect(page.get_by_text("Nobody needs attention right now.")).to_be_visible()
        assert dialogs == []
        page.close()


@pytest.mark.long(2)
def test_the_stats_page_passes_axe(settings: Settings, browser: Browser) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        server.call(app.state.runtime.store.save_staff_account("ann", hash_password(PASSWORD, TEST_COST), "UTC"))
        assert post_event(http, job_updated(sample_job("WO-1"))).status_code == 202
        page = browser.new_page()
        sign_in(page, server.url)
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Statistics").click()
        expect(page.get_by_role("heading", name="New jobs per day")).to_be_visible()
        expect(page.get_by_role("img", name="New jobs per day")).to_have_count(1)
        assert run_axe(page) == []
        page.close()


@pytest.mark.long(2)
@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}, {"width": 1280, "height": 900}], ids=str)
def test_the_job_page_acknowledges_its_reasons(
    settings: Settings, browser: Browser, viewport: dict[str, int], tmp_path: Path
) -> None:
    app = create_app(settings)
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        server.call(app.state.runtime.store.save_staff_account("ann", hash_password(PASSWORD, TEST_COST), "UTC"))
        job = sample_job("WO-78", reference=HOSTILE, customer={"name": "Sam"})
        assert post_event(http, job_updated(job)).status_code == 202
        page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
        sign_in(page, server.url)
        page.get_by_role("row").filter(has_text="No usable phone or email").get_by_role("link", name=HOSTILE).click()
        expect(page).to_have_url(f"{server.url}/staff/jobs/WO-78")
        card = page.get_by_role("region", name="Needs attention")
        expect(card).to_contain_text("No usable phone or email")
        button = card.get_by_role("button", name="Acknowledge")
        expect(button).to_be_in_viewport()
        # Nothing wider than the screen: the card and its button fit a phone without sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert run_axe(page) == []
        page.screenshot(path=str(tmp_path / f"job-attention-{viewport['width']}.png"), full_page=False)

        button.click()
        expect(page).to_have_url(f"{server.url}/staff/jobs/WO-78?done=acknowledged")
        expect(page.get_by_role("status").first).to_contain_text("current reasons were cleared")
        expect(page.get_by_role("region", name="Needs attention")).to_have_count(0)
        assert run_axe(page) == []
        page.screenshot(path=str(tmp_path / f"job-acknowledged-{viewport['width']}.png"), full_page=False)
        page.close()
        entries = server.call(app.state.runtime.store.list_audit(limit=10, job_id="WO-78"))
        assert [(e.action, e.username, e.detail) for e in entries if e.action == "acknowledge"] == [
            ("acknowledge", "ann", "contact_invalid")
        ]
