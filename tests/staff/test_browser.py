"""A real Chromium against a real server: sign in, search by phone, open the job."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from portal.app import create_app
from portal.settings import Settings
from portal.staff.passwords import hash_password
from tests.helpers import ThreadedServer, job_updated, post_event, sample_job
from tests.staff_support import PASSWORD, TEST_COST

pytestmark = pytest.mark.browser
HOSTILE = "<script>alert(1)</script>"


@pytest.mark.long(3)
def test_login_search_and_job_page(settings: Settings, browser: Browser) -> None:
    customer = {"name": f"Maria {HOSTILE}", "phone": "(312) 555-0142", "email": "maria@example.com"}
    app = create_app(settings)
    with ThreadedServer(app) as server:
        store = app.state.runtime.store
        server.call(store.save_staff_account("ann", hash_password(PASSWORD, TEST_COST), "America/New_York"))
        with httpx.Client(base_url=server.url) as http:
            assert post_event(http, job_updated(sample_job("WO-10442", customer=customer))).status_code == 202
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{server.url}/staff/jobs/WO-10442")
        expect(page).to_have_url(f"{server.url}/staff/login?next=%2Fjobs%2FWO-10442")

        page.get_by_label("Username").fill("ann")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("That username and password do not match an account.")

        page.get_by_label("Username").fill("ann")
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")  # the form works from the keyboard
        expect(page).to_have_url(f"{server.url}/staff/jobs/WO-10442")

        page.get_by_role("navigation", name="Console").get_by_role("link", name="Search").click()
        page.get_by_label("Find a job").fill("312.555.0142")
        page.get_by_role("button", name="Search").click()
        result = page.get_by_role("link", name="WO-10442")
        expect(result).to_be_visible()
        expect(page.get_by_role("cell", name=f"Maria {HOSTILE}")).to_be_visible()  # shown as text, never run

        result.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Job WO-10442")
        expect(page.get_by_role("heading", name="Messages")).to_be_visible()
        expect(page.get_by_role("button", name="Resend link")).to_be_visible()
        page.get_by_role("button", name="Revoke link").click()
        expect(page.get_by_role("status")).to_contain_text("The link was revoked")

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{server.url}/staff/login?signed_out=1")
        page.goto(f"{server.url}/staff")
        expect(page).to_have_url(f"{server.url}/staff/login")
        assert dialogs == []
