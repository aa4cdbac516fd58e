"""The attention queue's page, API and acknowledge form; the queue's rules are in the store contract suite."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.helpers import job_updated, now_iso, post_event, sample_job, status_changed
from tests.staff_support import add_staff, csrf_of, login

HOSTILE = "<script>alert(1)</script>"
NO_CONTACT = {"name": "Sam"}  # no phone, no email: nothing is sent, so no other reason joins in


@pytest.fixture
def console(client: TestClient) -> TestClient:
    add_staff(client)
    login(client)
    return client


def queue(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/staff/api/attention")
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _audit(client: TestClient, job_id: str) -> list[tuple[str, str | None]]:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    entries = client.portal.call(lambda: store.list_audit(limit=10, job_id=job_id))  # type: ignore[union-attr]
    return [(e.action, e.detail) for e in entries]


def test_sign_in_lands_on_the_attention_queue(client: TestClient) -> None:
    add_staff(client)
    response = login(client)
    assert response.status_code == 303 and response.headers["location"] == "/staff/attention"
    assert client.get("/staff/login", follow_redirects=False).headers["location"] == "/staff/attention"


def test_the_queue_needs_a_session(client: TestClient) -> None:
    assert client.get("/staff/api/attention").status_code == 401
    assert client.get("/staff/attention", follow_redirects=False).status_code == 303


def test_an_unreachable_customer_is_listed_escaped_and_acknowledged(console: TestClient) -> None:
    job = sample_job("WO-9", reference=HOSTILE, customer=NO_CONTACT)
    assert post_event(console, job_updated(job, "2026-03-01T15:00:00Z")).status_code == 202
    (item,) = queue(console)
    assert item["job_id"] == "WO-9" and item["reference"] == HOSTILE and item["reasons"] == ["contact_invalid"]
    assert item["since"].endswith("Z") and item["waited"].endswith("min")
    page = console.get("/staff/attention")
    assert "No usable phone or email" in page.text and HOSTILE not in page.text
    assert "&lt;script&gt;" in page.text

    refused = console.post("/staff/jobs/WO-9/acknowledge", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403 and len(queue(console)) == 1
    token = csrf_of(page.text)
    missing = console.post("/staff/jobs/nope/acknowledge", data={"csrf_token": token}, follow_redirects=False)
    assert missing.status_code == 404

    done = console.post("/staff/jobs/WO-9/acknowledge", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/staff/attention?done=acknowledged")
    assert queue(console) == []
    assert ("acknowledge", "contact_invalid") in _audit(console, "WO-9")
    assert "Nobody needs attention right now." in console.get("/staff/attention").text


def test_a_new_occurrence_brings_an_acknowledged_job_back(console: TestClient) -> None:
    assert (
        post_event(console, job_updated(sample_job("WO-9", customer=NO_CONTACT), "2026-03-01T15:00:00Z")).status_code
        == 202
    )
    console.post("/staff/jobs/WO-9/acknowledge", data={"csrf_token": csrf_of(console.get("/staff/attention").text)})
    assert queue(console) == []
    # Still unreachable: nothing new. A usable address, then none again: a new occurrence.
    post_event(console, status_changed("WO-9", "dispatched", "2026-03-01T15:01:00Z"))
    assert queue(console) == []
    fixed = {"phone": "(312) 555-0142"}
    post_event(console, job_updated({"id": "WO-9", "customer": fixed}, "2026-03-01T15:02:00Z"))
    assert queue(console) == []
    post_event(console, job_updated({"id": "WO-9", "customer": {"phone": "garbage"}}, "2026-03-01T15:03:00Z"))
    (item,) = queue(console)
    assert "contact_invalid" in item["reasons"]  # and message_failed once the worker tried the number


def test_a_late_job_leaves_the_queue_on_arrival(console: TestClient) -> None:
    # The window ended long ago and the visit has not started: the lateness check marks it late.
    window = {"start": now_iso(-4 * 3600), "end": now_iso(-2 * 3600)}
    job = sample_job("WO-5", status="dispatched", window=window)
    assert post_event(console, job_updated(job, now_iso(-5 * 3600))).status_code == 202
    portal = console.app.state.runtime  # type: ignore[attr-defined]
    # The worker may have run the check already (it fell due at once); either way the job is late.
    console.portal.call(portal.changes.check_late, "WO-5", job["window"]["end"])  # type: ignore[union-attr]
    assert [i["reasons"] for i in queue(console)] == [["late"]]
    post_event(console, status_changed("WO-5", "in_progress", now_iso(-60)))
    assert queue(console) == []


def test_the_job_page_shows_its_reasons_and_acknowledges_them(console: TestClient) -> None:
    job = sample_job("WO-9", reference=HOSTILE, customer=NO_CONTACT)
    assert post_event(console, job_updated(job, "2026-03-01T15:00:00Z")).status_code == 202
    assert post_event(console, job_updated(sample_job("WO-8"), "2026-03-01T15:00:00Z")).status_code == 202
    quiet = console.get("/staff/jobs/WO-8")
    assert quiet.status_code == 200 and "attention-heading" not in quiet.text and "/acknowledge" not in quiet.text
    page = console.get("/staff/jobs/WO-9")
    assert page.status_code == 200
    card = page.text.split('id="attention-heading"')[1].split("</section>")[0]
    assert "No usable phone or email" in card and "no phone number that can be texted" in card
    assert 'action="/staff/jobs/WO-9/acknowledge"' in card and 'name="back" value="job"' in card
    assert "min</time>" in card  # how long it has waited

    refused = console.post(
        "/staff/jobs/WO-9/acknowledge", data={"csrf_token": "forged", "back": "job"}, follow_redirects=False
    )
    assert refused.status_code == 403 and len(queue(console)) == 1
    done = console.post(
        "/staff/jobs/WO-9/acknowledge", data={"csrf_token": csrf_of(page.text), "back": "job"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/staff/jobs/WO-9?done=acknowledged"
    assert queue(console) == [] and ("acknowledge", "contact_invalid") in _audit(console, "WO-9")
    after = console.get(done.headers["location"])
    assert "current reasons were cleared. A new occurrence" in after.text and 'id="attention-heading"' not in after.text
