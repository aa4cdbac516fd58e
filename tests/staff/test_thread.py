"""The job's thread reads as sentences: the portal's answers to texts, requests, how a text was understood."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from portal.staff.thread import request_sentences, understood_sentence
from tests.customer.conversation_support import PATH, SLOTS, reply_of
from tests.customer.conversation_support import sms as signed_sms
from tests.fakes.twilio_server import AUTH_TOKEN
from tests.helpers import job_updated, make_settings, post_event, sample_job
from tests.notify.support import running
from tests.staff_support import add_staff, login

PUBLIC = "http://testserver"  # plain http: the staff session cookie is only Secure behind https


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path, public_url=PUBLIC, twilio_auth_token=AUTH_TOKEN, twilio_from="+15005550006", notifications=frozenset()
    )
    with running(settings) as test_client:
        post_event(test_client, job_updated(sample_job(reschedule_slots=SLOTS)))
        yield test_client


def sms(client: TestClient, body: str) -> httpx.Response:
    return signed_sms(client, body, sign_url=PUBLIC + PATH)


def test_the_portals_answer_to_a_text_is_in_the_thread(client: TestClient) -> None:
    reply = reply_of(sms(client, "Is the gate code needed?"))
    add_staff(client)
    login(client)
    messages = client.get("/staff/api/jobs/WO-1").json()["messages"]
    texts = [(m["direction"], m["status"], m["body"]) for m in messages if m["channel"] == "sms"]
    assert texts[-2:] == [("in", "received", "Is the gate code needed?"), ("out", "sent", reply)]
    page = client.get("/staff/jobs/WO-1").text
    assert "How the portal understood it:</strong> Understood as “message”." in page
    assert "The portal passed the text on to the field system." in page
    assert "&#34;understood&#34;" not in page and "{&#34;" not in page  # no raw JSON on the page


def test_a_reschedule_by_text_reads_as_a_sentence(client: TestClient) -> None:
    sms(client, "R")
    sms(client, "2")
    add_staff(client)
    login(client)
    page = client.get("/staff/jobs/WO-1").text
    assert "Customer asked by text on" in page
    assert "to move the visit to Mon 04 Mar 13:00-15:00; waiting for the field system to confirm." in page
    assert "Understood as “reschedule to slot 2”. The portal asked the field system to move the visit." in page


def test_sentences_for_notes_ratings_cancels_and_marks() -> None:
    actions = {
        "cancel": {"reason": "moving house", "channel": "web", "requested_at": "2030-03-03T15:00:00Z"},
        "notes": [{"text": "Gate code 4411", "channel": "web", "at": "2030-03-03T15:05:00Z"}],
        "rating": {"score": 2, "comment": "late again", "channel": "sms", "at": "2030-03-04T15:00:00Z"},
        "late": {"window_end": "2030-03-03T17:00:00Z", "seen_at": "2030-03-03T17:05:00Z", "by": "clock"},
    }
    assert request_sentences(actions, "America/Chicago") == [
        "Customer asked on the tracking page on Sun 03 Mar 09:00 to cancel (reason: “moving house”);"
        " waiting for the field system to confirm.",
        "Customer left a note on the tracking page on Sun 03 Mar 09:05: “Gate code 4411”",
        "Customer rated the visit 2 out of 5 by text on Mon 04 Mar 09:00: “late again”",
        "Marked running late by the clock (no arrival by the window's end) on Sun 03 Mar 11:05;"
        " the window ended Sun 03 Mar 11:00.",
    ]
    opted = {"understood": "opt-out", "actions": [{"kind": "opt_out", "result": "done"}], "reply": None}
    assert understood_sentence(opted) == (
        "Understood as “opt-out”. The portal stopped texts to this number. The portal sent no reply."
    )
    assert understood_sentence({"message": "link"}) is None
