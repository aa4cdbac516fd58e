"""The tracking page's forms (reschedule, cancel, note, rating) and its calendar file."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from starlette.testclient import TestClient

from portal.core.jobs import Job, iso_utc
from portal.links import FormTokens
from portal.store.base import Decision
from tests.helpers import SECRET_KEY, job_updated, make_settings, now_iso, post_event, sample_job, status_changed
from tests.notify.support import call, outbox, portal_of, running

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
REVIEW_URL = "https://g.page/r/acme-plumbing/review"
SLOTS = [
    {"start": "2030-03-04T09:00:00-06:00", "end": "2030-03-04T11:00:00-06:00"},
    {"start": "2030-03-05T13:00:00-06:00", "end": "2030-03-05T15:00:00-06:00"},
]
FORMS = {
    "reschedule": {"slot": SLOTS[1]["start"]},
    "cancel": {"reason": "Away that week"},
    "note": {"text": "Gate code 4411"},
    "rating": {"score": "4", "comment": "Quick and tidy"},
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, review_url=REVIEW_URL)
    with running(settings) as test_client:
        post_event(test_client, job_updated(sample_job(reschedule_slots=SLOTS)))
        yield test_client


def page_path(client: TestClient, job_id: str = "WO-1") -> str:
    url: str = call(client, portal_of(client).link_url, job_id)
    return url.removeprefix("http://testserver")


def csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, "the page has no form token"
    return found.group(1)


def submit(client: TestClient, action: str, fields: dict[str, str], token: str | None = "page") -> httpx.Response:
    path = page_path(client)
    data = dict(fields)
    if token == "page":
        data["csrf_token"] = csrf(client, path)
    elif token is not None:
        data["csrf_token"] = token
    return client.post(f"{path}/{action}", data=data, follow_redirects=False)


def values(client: TestClient, job_id: str = "WO-1") -> dict[str, Any]:
    record = call(client, portal_of(client).store.get_job, job_id)
    found: dict[str, Any] = record.job.values
    return found


def callbacks(client: TestClient) -> list[dict[str, Any]]:
    return [r.payload for r in outbox(client) if r.kind == "callback"]


def snapshot(client: TestClient) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return values(client), callbacks(client)


# -- CSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(FORMS))
def test_a_form_without_or_with_a_wrong_token_is_refused_and_changes_nothing(client: TestClient, action: str) -> None:
    if action == "rating":
        post_event(client, status_changed("WO-1", "completed"))
    before = snapshot(client)
    other_job = FormTokens((SECRET_KEY,)).issue("another-link")
    for token in (None, "", "garbage", other_job):
        response = submit(client, action, FORMS[action], token=token)
        assert response.status_code == 403, (token, response.status_code)
        assert "reload the page" in response.text
    assert snapshot(client) == before


def test_an_oversized_form_sent_without_a_length_is_refused_and_changes_nothing(client: TestClient) -> None:
    path = page_path(client)
    head = f"csrf_token={csrf(client, path)}&text=".encode()
    before = snapshot(client)

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to check up front
        yield head
        for _ in range(8):
            yield b"a" * 8192

    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = client.post(f"{path}/note", content=chunks(), headers=headers, follow_redirects=False)
    assert response.status_code == 413
    assert snapshot(client) == before


def test_a_form_token_of_a_revoked_link_no_longer_works(client: TestClient) -> None:
    path = page_path(client)
    token = csrf(client, path)
    call(client, portal_of(client).store.rotate_link_key, "WO-1")
    fresh = page_path(client)
    response = client.post(f"{fresh}/note", data={"text": "hi", "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 403


# -- each action ------------------------------------------------------------------------


def test_reschedule_answers_303_shows_the_request_and_sends_a_callback(client: TestClient) -> None:
    response = submit(client, "reschedule", FORMS["reschedule"])
    assert response.status_code == 303
    path = page_path(client)
    assert response.headers["location"] == f"{path}?done=reschedule"
    page = client.get(response.headers["location"]).text
    assert "asked to move your visit" in page and "Change of time requested" in page
    assert 'action="' + path + '/reschedule"' not in page  # no second request while one waits
    state = client.get(path + "/state").json()
    assert state["reschedule"]["slot"] == SLOTS[1] and state["can_reschedule"] is False
    [callback] = callbacks(client)
    assert callback["type"] == "reschedule.requested"
    assert callback["data"] == {"job_id": "WO-1", "slot": SLOTS[1], "channel": "web"}


def test_a_slot_not_offered_is_refused(client: TestClient) -> None:
    before = snapshot(client)
    response = submit(client, "reschedule", {"slot": "2030-03-04T09:00:00-05:00"})  # same day, not as given
    assert response.status_code == 409 and snapshot(client) == before


def test_the_request_stays_pending_until_the_field_system_moves_the_window(client: TestClient) -> None:
    submit(client, "reschedule", FORMS["reschedule"])
    # Another detail changes: the request is still waiting.
    post_event(client, job_updated({"id": "WO-1", "technician": {"id": "T-9", "name": "Sam Ortiz"}}))
    assert values(client)["portal.reschedule"]["slot"] == SLOTS[1]
    post_event(client, job_updated({"id": "WO-1", "window": SLOTS[1]}))
    assert "portal.reschedule" not in values(client)
    state = client.get(page_path(client) + "/state").json()
    assert state["reschedule"] is None and state["window"]["start"].startswith("2030-03-05T13:00")
    # The customer is told the new time: the "moved" confirmation.
    moved = [r for r in outbox(client) if r.kind == "sms" and r.payload["vars"].get("moved")]
    assert moved and moved[0].payload["message"] == "booking_confirmed"


def test_any_newer_window_also_answers_the_request(client: TestClient) -> None:
    submit(client, "reschedule", FORMS["reschedule"])
    post_event(client, job_updated({"id": "WO-1", "window": SLOTS[0]}))
    assert "portal.reschedule" not in values(client)


def test_cancel_is_a_request_shown_on_the_page(client: TestClient) -> None:
    response = submit(client, "cancel", {"reason": HOSTILE})
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "Cancellation requested" in page and "<script>alert" not in page and "&lt;script&gt;" in page
    assert values(client)["status"] == "scheduled"  # the field system decides
    [callback] = callbacks(client)
    assert callback["type"] == "cancel.requested"
    assert callback["data"] == {"job_id": "WO-1", "reason": HOSTILE, "channel": "web"}


@pytest.mark.parametrize("status", ["en_route", "in_progress", "completed"])
def test_cancel_is_not_offered_and_refused_once_the_technician_is_on_the_way(client: TestClient, status: str) -> None:
    post_event(client, status_changed("WO-1", status))
    path = page_path(client)
    assert f'action="{path}/cancel"' not in client.get(path).text
    before = snapshot(client)
    response = submit(client, "cancel", FORMS["cancel"])
    assert response.status_code == 409 and "call us" in response.text
    assert snapshot(client) == before


def test_a_note_reaches_the_technician_and_hostile_text_is_escaped(client: TestClient) -> None:
    response = submit(client, "note", {"text": HOSTILE})
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "Your note is on its way" in page
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert values(client)["portal.notes"][0]["text"] == HOSTILE
    [callback] = callbacks(client)
    assert callback["type"] == "customer.note" and callback["data"]["text"] == HOSTILE


def test_an_empty_or_overlong_note_is_refused(client: TestClient) -> None:
    before = snapshot(client)
    assert submit(client, "note", {"text": "   "}).status_code == 400
    assert submit(client, "note", {"text": "x" * 1001}).status_code == 400
    assert snapshot(client) == before


def test_rating_only_after_completion(client: TestClient) -> None:
    path = page_path(client)
    assert 'name="score"' not in client.get(path).text
    assert submit(client, "rating", FORMS["rating"]).status_code == 409
    post_event(client, status_changed("WO-1", "completed"))
    assert 'name="score"' in client.get(path).text
    for bad in ("0", "6", "five", "", "²", "¹", "①", "٣", "３", " 4 4"):
        assert submit(client, "rating", {"score": bad}).status_code == 400
    assert "portal.rating" not in values(client)


def test_a_rating_offers_the_review_link_and_may_be_changed_within_a_day(client: TestClient) -> None:
    post_event(client, status_changed("WO-1", "completed"))
    response = submit(client, "rating", {"score": "2", "comment": "Late"})
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "You rated this visit <strong>2 out of 5</strong>" in page and REVIEW_URL in page  # low scores too
    assert submit(client, "rating", {"score": "5", "comment": "Sorted it out"}).status_code == 303
    rating = values(client)["portal.rating"]
    assert (rating["score"], rating["comment"], rating["channel"]) == (5, "Sorted it out", "web")
    assert [c["data"]["score"] for c in callbacks(client)] == [2, 5]
    assert client.get(page_path(client) + "/state").json()["rating"]["score"] == 5


def test_a_rating_older_than_a_day_is_final(client: TestClient) -> None:
    post_event(client, status_changed("WO-1", "completed"))
    submit(client, "rating", {"score": "3"})
    long_ago = iso_utc(dt.datetime.now(dt.UTC) - dt.timedelta(days=2))

    def age(job: Job | None) -> Decision:
        assert job is not None
        job.values["portal.rating"] = {**job.values["portal.rating"], "at": long_ago}
        return Decision(job=job)

    call(client, portal_of(client).changes.change, "WO-1", age)
    path = page_path(client)
    assert 'name="score"' not in client.get(path).text
    before = snapshot(client)
    assert submit(client, "rating", {"score": "5"}, token=csrf_of_any_form(client, path)).status_code == 409
    assert snapshot(client) == before


def csrf_of_any_form(client: TestClient, path: str) -> str:
    """A valid token for this link, even when the page shows no form any more."""
    record = call(client, portal_of(client).store.get_job, "WO-1")
    return FormTokens((SECRET_KEY,)).issue(record.link_key)


def test_the_page_works_without_inline_script(client: TestClient) -> None:
    response = client.get(page_path(client))
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "form-action 'self'" in response.headers["content-security-policy"]
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text) is None
    assert " style=" not in response.text and " onclick=" not in response.text


# -- the calendar file -------------------------------------------------------------------


def test_the_calendar_file_parses_back_with_the_appointment(client: TestClient) -> None:
    path = page_path(client)
    assert f'href="{path}/calendar.ics"' in client.get(path).text
    response = client.get(path + "/calendar.ics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    [event] = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == dt.datetime(2030, 3, 3, 15, 0, tzinfo=dt.UTC)
    assert event.decoded("dtend") == dt.datetime(2030, 3, 3, 17, 0, tzinfo=dt.UTC)
    assert "location" not in event and b"Fulton" not in response.content  # the page shows no address either
    assert str(event["url"]) == "http://testserver" + path
    uid = str(event["uid"])
    # After the window moves, the file updates the same calendar entry.
    post_event(client, job_updated({"id": "WO-1", "window": SLOTS[0]}, now_iso(5)))  # a later second
    [moved] = Calendar.from_ical(client.get(path + "/calendar.ics").content).walk("VEVENT")
    assert str(moved["uid"]) == uid and int(moved["sequence"]) > int(event["sequence"])


def test_no_window_no_calendar_file(client: TestClient) -> None:
    post_event(client, job_updated({"id": "WO-2", "status": "created"}))
    assert client.get(page_path(client, "WO-2") + "/calendar.ics").status_code == 404


def test_a_forged_link_gets_no_calendar_and_no_form(client: TestClient) -> None:
    assert client.get("/t/forged.token/calendar.ics").status_code == 404
    assert client.post("/t/forged.token/note", data={"text": "x"}).status_code == 404


def test_refusals_are_in_the_customers_language(client: TestClient) -> None:
    spanish = {**sample_job()["customer"], "locale": "es"}
    post_event(client, job_updated(sample_job(customer=spanish, reschedule_slots=SLOTS)))
    gone = submit(client, "reschedule", {"slot": "2030-03-04T09:00:00-05:00"})
    assert gone.status_code == 409
    assert "Esto ya no se puede hacer en línea" in gone.text and "Ese horario ya no está disponible" in gone.text
    long_note = submit(client, "note", {"text": "x" * 1001})
    assert long_note.status_code == 400 and "Escriba menos de 1000 caracteres." in long_note.text
    expired = submit(client, "note", {"text": "hola"}, token="garbage")
    assert expired.status_code == 403 and "Este formulario ha caducado" in expired.text
    for response in (gone, long_note, expired):
        assert "Please" not in response.text and "no longer" not in response.text
    post_event(client, job_updated({"id": "WO-2", "status": "created", "customer": {"locale": "es"}}))
    calendar = client.get(page_path(client, "WO-2") + "/calendar.ics")
    assert calendar.status_code == 404 and "Aún no hay hora para la cita" in calendar.text


def test_refusals_in_english_stay_english(client: TestClient) -> None:
    response = submit(client, "rating", {"score": "9"})
    assert response.status_code == 400 and "Please choose a score from 1 to 5." in response.text
