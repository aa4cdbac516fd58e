"""``POST /webhooks/twilio/inbound``: signed SMS replies, understood and acted on, end to end."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.customer.conversation_support import (
    PATH,
    PHONE,
    PUBLIC,
    REVIEW_URL,
    SLOTS,
    callbacks,
    inbound,
    job_values,
    opted_out,
    reply_of,
    sms,
)
from tests.fakes.twilio_server import AUTH_TOKEN
from tests.helpers import job_updated, make_settings, post_event, sample_job, status_changed
from tests.notify.support import call, portal_of, running


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    # The test client talks to http://testserver; Twilio signs the public https URL (a proxy).
    settings = make_settings(
        tmp_path,
        public_url=PUBLIC,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from="+15005550006",
        notifications=frozenset(),
        review_url=REVIEW_URL,
    )
    with running(settings) as test_client:
        post_event(test_client, job_updated(sample_job(reschedule_slots=SLOTS)))
        yield test_client


# -- the signature ---------------------------------------------------------------------


def test_a_signed_message_is_stored_and_answered(client: TestClient) -> None:
    reply = reply_of(sms(client, "Is the gate code needed?"))
    assert reply is not None and "passed it on" in reply
    [message] = inbound(client)
    assert (message.channel, message.direction, message.status) == ("sms", "in", "received")
    assert message.body == "Is the gate code needed?" and message.from_addr == PHONE
    assert message.meta["understood"] == "message" and message.meta["reply"] == reply
    assert callbacks(client) == [
        {
            "type": "customer.message",
            "timestamp": callbacks(client)[0]["timestamp"],
            "data": {"job_id": "WO-1", "text": "Is the gate code needed?"},
        }
    ]


def test_a_replayed_message_is_answered_again_but_recorded_and_acted_on_once(client: TestClient) -> None:
    sid = "SM" + uuid.uuid4().hex
    first = reply_of(sms(client, "R", sid=sid))
    assert first is not None and "1" in first
    assert reply_of(sms(client, "1")) is not None  # picks the first slot
    assert reply_of(sms(client, "R", sid=sid)) == first  # Twilio retried: the same answer ...
    assert [m.body for m in inbound(client)] == ["R", "1"]  # ... kept once
    assert [c["type"] for c in callbacks(client)] == ["reschedule.requested"]


def test_a_forged_or_unsigned_message_is_refused_and_changes_nothing(client: TestClient) -> None:
    assert sms(client, "STOP", token="not-the-auth-token").status_code == 403
    params = {"From": PHONE, "Body": "STOP", "MessageSid": "SM1"}
    assert client.post(PATH, data=params).status_code == 403
    assert client.post(PATH, data=params, headers={"X-Twilio-Signature": "garbage"}).status_code == 403
    assert inbound(client) == [] and callbacks(client) == [] and not opted_out(client)


def test_the_signature_is_checked_against_the_public_url_behind_a_proxy(client: TestClient) -> None:
    # Signed for the URL the request reached (http://testserver) instead of the public one.
    assert sms(client, "STOP", sign_url="http://testserver" + PATH).status_code == 403
    assert not opted_out(client)
    assert reply_of(sms(client, "STOP")) is None
    assert opted_out(client)


def test_without_a_twilio_token_every_message_is_refused(tmp_path: Path) -> None:
    with running(make_settings(tmp_path, public_url=PUBLIC)) as plain:
        assert sms(plain, "HELP").status_code == 403


# -- the grammar, end to end -------------------------------------------------------------


@pytest.mark.parametrize("text", ["STOP", " stop ", "Cancel", "CANCEL", "unsubscribe", "Quit", "end.", "StopAll"])
def test_opt_out_words_opt_out_silently_and_cancel_never_cancels(client: TestClient, text: str) -> None:
    assert reply_of(sms(client, text)) is None  # <Response/>: Twilio itself answers keywords
    assert opted_out(client)
    assert [c["type"] for c in callbacks(client)] == ["customer.opted_out"]
    assert callbacks(client)[0]["data"] == {"phone": PHONE}
    values = job_values(client)
    assert values["status"] == "scheduled" and "portal.cancel" not in values
    assert inbound(client)[0].meta["understood"] == "opt-out"


@pytest.mark.parametrize("text", ["START", "unstop", " yes "])
def test_opt_in_words_opt_back_in(client: TestClient, text: str) -> None:
    sms(client, "STOP")
    assert reply_of(sms(client, text)) is None
    assert not opted_out(client)
    assert [c["type"] for c in callbacks(client)] == ["customer.opted_out", "customer.opted_in"]


@pytest.mark.parametrize("text", ["HELP", "help", " Info "])
def test_help_answers_a_help_text(client: TestClient, text: str) -> None:
    reply = reply_of(sms(client, text))
    assert reply is not None and "R to reschedule" in reply and "STOP" in reply
    assert callbacks(client) == []


@pytest.mark.parametrize("text", ["R", "r", " Reschedule ", "RESCHEDULE!", "r 👍"])
def test_reschedule_offers_three_slots_and_a_number_requests_one(client: TestClient, text: str) -> None:
    offer = reply_of(sms(client, text))
    assert offer is not None
    assert "1) Mon Mar 4, 9:00-11:00 AM" in offer and "2) Mon Mar 4, 1:00-3:00 PM" in offer
    assert "3) Tue Mar 5" in offer and "4)" not in offer
    answer = reply_of(sms(client, " 2 "))
    assert answer is not None and "Mon Mar 4, 1:00-3:00 PM" in answer and "confirmed" in answer
    pending = job_values(client)["portal.reschedule"]
    assert pending["slot"] == SLOTS[1] and pending["channel"] == "sms"
    [request] = callbacks(client)
    assert request["type"] == "reschedule.requested"
    assert request["data"] == {"job_id": "WO-1", "slot": SLOTS[1], "channel": "sms"}
    state = client.get(call(client, portal_of(client).link_url, "WO-1").removeprefix(PUBLIC) + "/state").json()
    assert state["reschedule"]["slot"] == SLOTS[1] and state["can_reschedule"] is False
    # A second "R" while the request waits says so, and offers nothing more.
    again = reply_of(sms(client, "R"))
    assert again is not None and "Mon Mar 4, 1:00-3:00 PM is waiting for our confirmation" in again
    assert inbound(client)[-1].meta["understood"] == "reschedule: a request is already waiting"


def test_a_number_that_was_not_offered_is_asked_again(client: TestClient) -> None:
    sms(client, "R")
    answer = reply_of(sms(client, "7"))
    assert answer is not None and "from 1 to 3" in answer
    assert "portal.reschedule" not in job_values(client) and callbacks(client) == []


def test_a_digit_without_a_question_is_a_message_not_a_choice(client: TestClient) -> None:
    reply = reply_of(sms(client, "2"))
    assert reply is not None and "passed it on" in reply
    assert [c["type"] for c in callbacks(client)] == ["customer.message"]


def test_a_rating_by_text_after_completion_offers_the_review_link(client: TestClient) -> None:
    post_event(client, status_changed("WO-1", "completed"))
    reply = reply_of(sms(client, "5 ⭐ Great job, thank you"))
    assert reply is not None and REVIEW_URL in reply
    rating = job_values(client)["portal.rating"]
    assert (rating["score"], rating["comment"], rating["channel"]) == (5, "⭐ Great job, thank you", "sms")
    [submitted] = callbacks(client)
    assert submitted["type"] == "rating.submitted"
    assert submitted["data"] == {"job_id": "WO-1", "score": 5, "comment": "⭐ Great job, thank you", "channel": "sms"}


def test_a_rating_by_text_replaces_one_given_on_the_page_the_same_day(client: TestClient) -> None:
    post_event(client, status_changed("WO-1", "completed"))
    page = call(client, portal_of(client).link_url, "WO-1").removeprefix(PUBLIC)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert token is not None
    form = {"score": "2", "comment": "", "csrf_token": token.group(1)}
    assert client.post(f"{page}/rating", data=form, follow_redirects=False).status_code == 303
    assert job_values(client)["portal.rating"]["score"] == 2
    reply = reply_of(sms(client, "5"))
    assert reply is not None and "Thanks for your rating" in reply
    assert (job_values(client)["portal.rating"]["score"], job_values(client)["portal.rating"]["channel"]) == (5, "sms")
    assert [c["data"]["score"] for c in callbacks(client) if c["type"] == "rating.submitted"] == [2, 5]


def test_a_low_rating_is_offered_the_review_link_too(client: TestClient) -> None:
    post_event(client, status_changed("WO-1", "completed"))
    reply = reply_of(sms(client, "1"))
    assert reply is not None and REVIEW_URL in reply
    assert job_values(client)["portal.rating"]["score"] == 1


def test_an_unknown_number_is_kept_and_acknowledged(client: TestClient) -> None:
    reply = reply_of(sms(client, "R", sender="+13125550199"))
    assert reply is not None and "no upcoming visit" in reply
    assert inbound(client) == [] and callbacks(client) == []


def test_numbers_in_any_format_find_the_job(client: TestClient) -> None:
    reply = reply_of(sms(client, "R", sender="(312) 555-0142"))
    assert reply is not None and "1)" in reply


# -- several open jobs ------------------------------------------------------------------


def test_several_open_jobs_are_told_apart_by_asking(client: TestClient) -> None:
    other = sample_job(
        "WO-2",
        window={"start": "2030-03-08T13:00:00-06:00", "end": "2030-03-08T15:00:00-06:00"},
        reschedule_slots=SLOTS[3:],
    )
    post_event(client, job_updated(other))
    question = reply_of(sms(client, "R"))
    assert question is not None and "Which visit?" in question
    assert "1 for R-WO-2 (Fri Mar 8)" in question and "2 for R-WO-1 (Sun Mar 3)" in question
    offer = reply_of(sms(client, "1"))
    assert offer is not None and "1) Wed Mar 6, 9:00-11:00 AM" in offer
    reply_of(sms(client, "1"))
    assert job_values(client, "WO-2")["portal.reschedule"]["slot"] == SLOTS[3]
    assert "portal.reschedule" not in job_values(client, "WO-1")
    assert [c["type"] for c in callbacks(client, "WO-2")] == ["reschedule.requested"]
    # The question belongs to no visit yet: it is kept with the most recent one.
    assert [m.meta["understood"] for m in inbound(client, "WO-2")] == [
        "reschedule: which visit?",
        "reschedule: slots offered",
        "reschedule to slot 1",
    ]


def test_a_long_comment_with_a_rating_is_kept_to_its_first_thousand_characters(client: TestClient) -> None:
    post_event(client, status_changed("WO-1", "completed"))
    reply = reply_of(sms(client, "4 " + "x" * 1500))
    assert reply is not None and "Thanks for your rating" in reply
    assert len(job_values(client)["portal.rating"]["comment"]) == 1000
