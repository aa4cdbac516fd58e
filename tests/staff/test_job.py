"""The job page and its JSON: timeline, message thread, link state, resend, revoke, audit."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from portal.core.jobs import Job
from portal.settings import Settings
from portal.staff.openapi import JOB_DOCUMENT
from portal.store.base import Decision, Message, OutboxItem
from portal.web.openapi import openapi_document
from tests.helpers import event, job_updated, post_event, sample_job, status_changed, wait_until
from tests.staff_support import add_staff, job_id_url, login, page_csrf

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _message(created_at: str, **fields: Any) -> Message:
    base: dict[str, Any] = {
        "id": 0,
        "job_id": "WO-1",
        "channel": "sms",
        "direction": "out",
        "to_addr": "+13125550142",
        "from_addr": "+13125550000",
        "body": "Your technician is on the way",
        "status": "delivered",
        "provider_id": None,
        "error": None,
        "meta": {},
        "created_at": created_at,
        "updated_at": created_at,
    }
    return Message(**{**base, **fields})


def _mine(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages a test stored itself (dated 2030), not those the worker sent on its own."""
    return [m for m in messages if m["created_at"].startswith("2030")]


def _store_call(client: TestClient, fn: Any, *args: Any) -> Any:
    return client.portal.call(fn, *args)  # type: ignore[union-attr]


@pytest.fixture
def console(client: TestClient) -> TestClient:
    assert post_event(client, job_updated(sample_job(), "2026-03-01T15:00:00Z")).status_code == 202
    add_staff(client, timezone="America/New_York")
    login(client)
    return client


def _outbox(settings: Settings) -> list[tuple[str, str, dict[str, Any]]]:
    assert settings.sqlite_path is not None
    with sqlite3.connect(settings.sqlite_path) as conn:
        rows = conn.execute(
            "SELECT kind, job_id, payload FROM outbox WHERE dedup_key LIKE 'staff-resend:%' ORDER BY id"
        )
        return [(kind, job_id, json.loads(payload)) for kind, job_id, payload in rows]


def _audit(client: TestClient, **filters: Any) -> list[tuple[str, str, str | None, str | None]]:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    entries = client.portal.call(lambda: store.list_audit(limit=50, **filters))  # type: ignore[union-attr]
    return [(e.username, e.action, e.job_id, e.detail) for e in entries]


def test_the_api_document_has_the_contract_shape(console: TestClient) -> None:
    store = console.app.state.runtime.store  # type: ignore[attr-defined]
    _store_call(console, store.add_message, _message("2030-03-01T15:01:00.000000Z", error="30003", status="failed"))
    doc = console.get("/staff/api/jobs/WO-1").json()
    doc["messages"] = _mine(doc["messages"])
    assert set(doc) == {"job", "timeline", "messages"}
    assert doc["job"]["id"] == "WO-1" and doc["job"]["customer"]["phone_e164"] == "+13125550142"
    assert doc["timeline"] == [{"status": "scheduled", "at": "2026-03-01T15:00:00.000000Z", "label": "Scheduled"}]
    (message,) = doc["messages"]
    for key in ("channel", "direction", "body", "status", "error", "created_at"):
        assert key in message
    assert message["status"] == "failed" and message["error"] == "30003"
    assert message["error_meaning"] == "The phone is switched off or out of coverage."
    assert console.get("/staff/api/jobs/nope").status_code == 404


def test_the_thread_is_chronological_with_every_status(console: TestClient) -> None:
    store = console.app.state.runtime.store  # type: ignore[attr-defined]
    stored = [  # inserted out of order: an inbound reply recorded after a later outbound
        _message("2030-03-01T15:05:00.000000Z", body="Reply R to reschedule", status="delivered", provider_id="SM1"),
        _message(
            "2030-03-01T15:02:00.000000Z",
            channel="email",
            to_addr="maria@example.com",
            status="not_sent",
            error="not sent: no provider",
            body="Your visit is booked",
        ),
        _message(
            "2030-03-01T15:09:00.000000Z",
            direction="in",
            status="received",
            body="R",
            to_addr="+13125550000",
            from_addr="+13125550142",
            meta={"understood": "reschedule"},
        ),
        _message(
            "2030-03-01T15:07:00.000000Z", status="undelivered", error="30007", provider_id="SM2", meta={"attempts": 3}
        ),
        _message("2030-03-01T15:08:00.000000Z", status="sent", provider_id="SM3"),
    ]
    for message in stored:
        _store_call(console, store.add_message, message)
    messages = _mine(console.get("/staff/api/jobs/WO-1").json()["messages"])
    assert [m["created_at"][11:16] for m in messages] == ["15:02", "15:05", "15:07", "15:08", "15:09"]
    assert [m["status"] for m in messages] == ["not_sent", "delivered", "undelivered", "sent", "received"]
    assert messages[2]["attempts"] == 3 and messages[4]["meta"] == {"understood": "reschedule"}
    page = console.get("/staff/jobs/WO-1").text
    understood = page.index("Understood as “reschedule”")
    assert page.index("Your visit is booked") < page.index("Reply R to reschedule") < understood
    assert "The carrier filtered the message as possible spam." in page
    assert "Error 30007" in page and "not sent: no provider" in page and "Provider id SM2" in page
    assert "How the portal understood it" in page and "3 attempt(s)" in page


def test_times_show_in_the_jobs_zone_and_the_staff_members(console: TestClient) -> None:
    post_event(console, status_changed("WO-1", "en_route", "2026-03-03T14:41:00Z"))
    page = console.get("/staff/jobs/WO-1").text
    assert "Tue 2026-03-03 08:41 CST" in page  # America/Chicago, the job's zone
    assert "Tue 2026-03-03 09:41 EST" in page  # America/New_York, the staff member's zone
    assert "Job time (America/Chicago)" in page and "Your time (America/New_York)" in page


def test_resend_queues_the_link_by_each_channel(console: TestClient, settings: Settings) -> None:
    response = console.post("/staff/jobs/WO-1/resend", data={"csrf_token": page_csrf(console)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/staff/jobs/WO-1?done=resent"
    rows = _outbox(settings)
    assert [(kind, job_id) for kind, job_id, _ in rows] == [("sms", "WO-1"), ("email", "WO-1")]
    assert rows[0][2]["message"] == "link" and rows[0][2]["to"] == "+13125550142"
    assert rows[1][2]["to"] == "maria@example.com" and rows[1][2]["requested_by"] == "ann"
    assert "queued to be sent" in console.get(response.headers["location"]).text
    console.post("/staff/jobs/WO-1/resend", data={"csrf_token": page_csrf(console)})
    assert len(_outbox(settings)) == 4  # each press is its own delivery
    assert ("ann", "resend", "WO-1", "sms, email") in _audit(console)


def test_the_worker_delivers_a_resent_link(console: TestClient) -> None:
    console.post("/staff/jobs/WO-1/resend", data={"csrf_token": page_csrf(console)})
    link = job_id_url(console, "WO-1")

    def links_sent() -> list[dict[str, Any]]:
        messages = console.get("/staff/api/jobs/WO-1").json()["messages"]
        sent = [m for m in messages if m["meta"].get("message") == "link"]
        return sent if len(sent) == 2 else []

    sent = wait_until(links_sent, what="the link by SMS and email")
    assert sorted(m["channel"] for m in sent) == ["email", "sms"]
    sms = next(m for m in sent if m["channel"] == "sms")
    assert sms["body"] == f"Your service team: Follow your visit here: http://testserver{link}"
    assert sms["status"] == "not_sent"  # no provider configured in tests: recorded, as staff should see


def test_a_customer_who_chose_no_channels_gets_nothing(console: TestClient, settings: Settings) -> None:
    customer = {"name": "Quiet", "phone": "(312) 555-0142", "email": "q@example.com", "channels": []}
    post_event(console, job_updated(sample_job("WO-4", customer=customer)))
    response = console.post("/staff/jobs/WO-4/resend", data={"csrf_token": page_csrf(console)})
    assert "no usable phone number or email" in response.text and _outbox(settings) == []


def test_resend_without_any_contact_queues_nothing(console: TestClient, settings: Settings) -> None:
    customer = {"name": "No Contact", "phone": "not a number", "email": None, "channels": ["sms", "email"]}
    post_event(console, job_updated(sample_job("WO-2", customer=customer)))
    response = console.post("/staff/jobs/WO-2/resend", data={"csrf_token": page_csrf(console)})
    assert "no usable phone number or email" in response.text
    assert _outbox(settings) == []
    assert "cannot be parsed" in response.text


def test_resend_of_an_expired_link_is_refused(console: TestClient, settings: Settings) -> None:
    post_event(console, job_updated(sample_job("WO-3", status="completed"), "2020-01-01T00:00:00Z"))
    page = console.get("/staff/jobs/WO-3").text
    assert "link-expired" in page
    response = console.post("/staff/jobs/WO-3/resend", data={"csrf_token": page_csrf(console)})
    assert "closed too long ago" in response.text and _outbox(settings) == []
    assert console.get("/staff/api/jobs/WO-3").json()["job"]["link"]["state"] == "expired"


def test_resend_or_revoke_of_a_missing_job_is_404(console: TestClient) -> None:
    token = page_csrf(console)
    assert console.post("/staff/jobs/nope/resend", data={"csrf_token": token}).status_code == 404
    assert console.post("/staff/jobs/nope/revoke", data={"csrf_token": token}).status_code == 404
    assert console.get("/staff/jobs/nope").status_code == 404


def test_revoke_makes_earlier_links_410_and_issues_a_new_one(console: TestClient) -> None:
    old = job_id_url(console, "WO-1")
    assert console.get(old).status_code == 200
    response = console.post("/staff/jobs/WO-1/revoke", data={"csrf_token": page_csrf(console)})
    assert response.status_code == 200 and "The link was revoked" in response.text
    assert "Earlier links revoked: 1" in response.text
    assert console.get(old).status_code == 410
    new = job_id_url(console, "WO-1")
    assert new != old and console.get(new).status_code == 200
    link = console.get("/staff/api/jobs/WO-1").json()["job"]["link"]
    assert link["state"] == "active" and len(link["revoked"]) == 1
    assert ("ann", "revoke", "WO-1", None) in _audit(console)


def test_the_audit_trail_records_who_opened_which_job(console: TestClient) -> None:
    add_staff(console, "bob")
    console.get("/staff/jobs/WO-1")
    other = TestClient(console.app)
    login(other, "bob")
    other.get("/staff/api/jobs/WO-1")
    views = [e for e in _audit(console, job_id="WO-1") if e[1] == "view_job"]
    assert views == [("bob", "view_job", "WO-1", "api"), ("ann", "view_job", "WO-1", "page")]
    page = console.get("/staff/audit", params={"job": "WO-1"})
    assert page.status_code == 200 and "bob" in page.text and "view job" in page.text
    only_bob = console.get("/staff/audit", params={"user": "bob"}).text
    assert "login" in only_bob and ">ann<" not in only_bob


def test_customer_actions_are_shown(console: TestClient) -> None:
    portal = console.app.state.runtime  # type: ignore[attr-defined]

    def decide(job: Job | None) -> Decision:
        assert job is not None
        job.values["portal.reschedule"] = {"slot": {"start": "2030-03-04T09:00:00-06:00"}, "channel": "sms"}
        job.values["portal.rating"] = {"score": 4, "comment": HOSTILE}
        return Decision(job=job)

    console.portal.call(portal.changes.change, "WO-1", decide)  # type: ignore[union-attr]
    page = console.get("/staff/jobs/WO-1").text
    assert "Customer asked by text to move the visit to Mon 04 Mar 09:00; waiting for the field system" in page
    assert "Customer rated the visit 4 out of 5" in page
    assert ESCAPED in page and HOSTILE not in page
    actions = console.get("/staff/api/jobs/WO-1").json()["job"]["customer_actions"]
    assert actions["rating"]["score"] == 4


def test_hostile_text_is_escaped_on_the_job_page(console: TestClient) -> None:
    customer = {"name": HOSTILE, "phone": "(312) 555-0142", "email": "x@example.com"}
    post_event(console, job_updated(sample_job("WO-9", customer=customer, notes=HOSTILE, service=HOSTILE)))
    store = console.app.state.runtime.store  # type: ignore[attr-defined]
    reply = _message(
        "2030-03-01T15:09:00.000000Z",
        job_id="WO-9",
        direction="in",
        status="received",
        body=HOSTILE,
        error=HOSTILE,
        meta={"text": HOSTILE},
    )
    _store_call(console, store.add_message, reply)
    page = console.get("/staff/jobs/WO-9").text
    assert HOSTILE not in page
    assert page.count(ESCAPED) >= 5


def test_rejected_webhooks_are_listed_with_an_escaped_excerpt(console: TestClient) -> None:
    bad = event("job.updated", {"job": {"id": "WO-5", "customer": {"name": HOSTILE}, "status": "teleported"}})
    assert post_event(console, bad).status_code == 400
    assert (
        console.post("/webhooks/field", content=b"{}", headers={"content-type": "application/json"}).status_code == 401
    )
    page = console.get("/staff/rejected")
    assert page.status_code == 200
    assert "invalid payload" in page.text and "missing webhook-id" in page.text
    assert HOSTILE not in page.text and ESCAPED in page.text


def test_queued_deliveries_and_callbacks_are_shown(console: TestClient) -> None:
    portal = console.app.state.runtime  # type: ignore[attr-defined]
    callback = OutboxItem("cb-1", "callback", "WO-1", {"type": "rating.submitted", "data": {"job_id": "WO-1"}})

    def decide(job: Job | None) -> Decision:
        assert job is not None
        return Decision(job=job, outbox=[callback])

    console.portal.call(portal.changes.change, "WO-1", decide)  # type: ignore[union-attr]
    deliveries = console.get("/staff/api/jobs/WO-1").json()["job"]["deliveries"]
    (row,) = [d for d in deliveries if d["kind"] == "callback"]
    assert row["what"] == "rating.submitted" and row["attempts"] >= 0
    page = console.get("/staff/jobs/WO-1").text
    assert "Queued deliveries and callbacks" in page and "rating.submitted" in page


def test_the_api_document_matches_the_published_schema(console: TestClient) -> None:
    store = console.app.state.runtime.store  # type: ignore[attr-defined]
    _store_call(console, store.add_message, _message("2030-03-01T15:01:00.000000Z", status="delivered"))
    doc = console.get("/staff/api/jobs/WO-1").json()
    Draft202012Validator(JOB_DOCUMENT).validate(doc)
    assert openapi_document()["paths"]["/staff/api/jobs/{job_id}"]["get"]["security"] == [{"staffSession": []}]


def test_statuses_after_status_callbacks(console: TestClient) -> None:
    store = console.app.state.runtime.store  # type: ignore[attr-defined]
    _store_call(console, store.add_message, _message("2030-03-01T15:01:00.000000Z", status="sent", provider_id="SM9"))
    _store_call(console, store.add_message, _message("2030-03-01T15:02:00.000000Z", status="sent", provider_id="SM8"))
    later = "2030-03-01T15:03:00.000000Z"
    _store_call(console, store.update_message_status, "SM9", "undelivered", "30003", later)
    _store_call(console, store.update_message_status, "SM8", "delivered", None, later)
    _store_call(console, store.update_message_status, "SM8", "sent", None, later)  # late and out of order
    messages = {m["provider_id"]: m for m in _mine(console.get("/staff/api/jobs/WO-1").json()["messages"])}
    assert messages["SM9"]["status"] == "undelivered" and messages["SM9"]["error_code"] == "30003"
    assert messages["SM8"]["status"] == "delivered" and messages["SM8"]["updated_at"] == later
    page = console.get("/staff/jobs/WO-1").text
    assert "Not delivered" in page and "The phone is switched off or out of coverage." in page


def test_stop_and_start_show_as_events_and_the_customer_is_marked_while_opted_out(console: TestClient) -> None:
    runtime = console.app.state.runtime  # type: ignore[attr-defined]
    _store_call(console, runtime.conversation.handle_inbound_sms, "+13125550142", "STOP", "SMstop")
    page = console.get("/staff/jobs/WO-1").text
    assert "Opted out of text messages: no SMS goes to this number until it texts START." in page
    assert "opted out of SMS (texted STOP)" in page
    api = console.get("/staff/api/jobs/WO-1").json()
    assert api["job"]["customer"]["sms_opted_out"] is True
    _store_call(console, runtime.conversation.handle_inbound_sms, "+13125550142", "START", "SMstart")
    page = console.get("/staff/jobs/WO-1").text
    assert "Opted back in to text messages." in page and "opted out of SMS (texted STOP)" not in page
    events = [m["event"] for m in console.get("/staff/api/jobs/WO-1").json()["messages"] if m["event"]]
    assert events == [
        "Opted out of text messages: no SMS goes to this number until it texts START.",
        "Opted back in to text messages.",
    ]
