"""``POST /webhooks/twilio/status``: only Twilio may report, and messages only move forward."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from portal.store.base import Message
from tests.fakes.twilio_server import AUTH_TOKEN
from tests.helpers import job_updated, post_event, sample_job
from tests.notify.support import call, messages, notify_settings, portal_of, running

PUBLIC = "https://portal.example.com"
PATH = "/webhooks/twilio/status"
SID = "SM" + "5" * 32


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = notify_settings(tmp_path, "http://127.0.0.1:9", notifications=frozenset())
    with running(settings) as test_client:
        post_event(test_client, job_updated(sample_job()))
        stamp = "2030-01-01T00:00:00.000000Z"
        message = Message(0, "WO-1", "sms", "out", "+13125550142", None, "hi", "queued", SID, None, {}, stamp, stamp)
        call(test_client, portal_of(test_client).store.add_message, message)
        yield test_client


def report(
    client: TestClient, status: str, error: str | None = None, *, sign_url: str = PUBLIC + PATH
) -> httpx.Response:
    params = {"MessageSid": SID, "MessageStatus": status, "AccountSid": "AC1", "To": "+13125550142"}
    if error:
        params["ErrorCode"] = error
    signature = RequestValidator(AUTH_TOKEN).compute_signature(sign_url, params)
    return client.post(PATH, data=params, headers={"X-Twilio-Signature": signature})


def status_of(client: TestClient) -> tuple[str, str | None]:
    [message] = messages(client)
    return message.status, message.error


def test_a_signed_report_moves_the_message_forward(client: TestClient) -> None:
    assert report(client, "sent").status_code == 204
    assert status_of(client) == ("sent", None)
    assert report(client, "delivered").status_code == 204
    assert status_of(client) == ("delivered", None)


def test_an_oversized_report_sent_without_a_length_is_refused_and_changes_nothing(client: TestClient) -> None:
    params = {"MessageSid": SID, "MessageStatus": "delivered", "AccountSid": "AC1", "Padding": "a" * 100_000}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + PATH, params)
    body = urlencode(params).encode()

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to check up front
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    headers = {"content-type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    response = client.post(PATH, content=chunks(), headers=headers)
    assert response.status_code == 413
    assert status_of(client) == ("queued", None)


def test_a_late_report_never_moves_a_message_back(client: TestClient) -> None:
    report(client, "delivered")
    report(client, "sent")
    report(client, "queued")
    assert status_of(client) == ("delivered", None)


def test_a_failure_keeps_its_error_code(client: TestClient) -> None:
    report(client, "sent")
    report(client, "undelivered", "30003")
    assert status_of(client) == ("undelivered", "30003")
    report(client, "delivered")  # a final state is final
    assert status_of(client) == ("undelivered", "30003")


def test_a_forged_or_unsigned_report_is_refused_and_changes_nothing(client: TestClient) -> None:
    assert report(client, "delivered").status_code == 204  # control: the genuine one works
    params = {"MessageSid": SID, "MessageStatus": "failed"}
    bad = RequestValidator("not-the-token").compute_signature(PUBLIC + PATH, params)
    assert client.post(PATH, data=params, headers={"X-Twilio-Signature": bad}).status_code == 403
    assert client.post(PATH, data=params).status_code == 403
    assert status_of(client) == ("delivered", None)


def test_the_signature_is_checked_against_the_public_url_not_the_request_url(client: TestClient) -> None:
    # Behind a proxy the request arrives as http://testserver/...; Twilio signed the public URL.
    assert report(client, "sent", sign_url="http://testserver" + PATH).status_code == 403
    assert status_of(client) == ("queued", None)


def test_reports_for_unknown_messages_or_statuses_are_accepted_and_ignored(client: TestClient) -> None:
    params = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + PATH, params)
    assert client.post(PATH, data=params, headers={"X-Twilio-Signature": signature}).status_code == 204
    assert report(client, "receiving").status_code == 204
    assert status_of(client) == ("queued", None)


def test_without_a_twilio_token_every_report_is_refused(tmp_path: Path) -> None:
    with running(notify_settings(tmp_path)) as plain:
        params = {"MessageSid": SID, "MessageStatus": "delivered"}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + PATH, params)
        assert plain.post(PATH, data=params, headers={"X-Twilio-Signature": signature}).status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "missing"),
    [
        (PATH, {"MessageSid": SID}, "MessageStatus"),
        (PATH, {"MessageSid": "", "MessageStatus": "delivered"}, "MessageSid"),
        ("/webhooks/twilio/inbound", {"MessageSid": "SM1", "From": "+13125550142"}, "Body"),
        ("/webhooks/twilio/inbound", {"MessageSid": "SM1", "Body": "C"}, "From"),
    ],
)
def test_a_signed_post_without_a_field_twilio_always_sends_is_400_and_changes_nothing(
    client: TestClient, path: str, params: dict[str, str], missing: str
) -> None:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, params)
    answer = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 400 and missing in answer.json()["detail"]
    assert status_of(client) == ("queued", None) and len(messages(client)) == 1


def test_the_older_sms_status_field_is_still_read(client: TestClient) -> None:
    params = {"MessageSid": SID, "SmsStatus": "delivered"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + PATH, params)
    assert client.post(PATH, data=params, headers={"X-Twilio-Signature": signature}).status_code == 204
    assert status_of(client) == ("delivered", None)
