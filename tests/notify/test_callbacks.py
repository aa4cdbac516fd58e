"""Callbacks to the field system, sent by the worker to a real local receiver (uvicorn on loopback).

The receiver (tests/fakes/callback_receiver.py) verifies nothing itself: it records what arrived
and answers from a script, and the tests verify each request with the ``standardwebhooks``
library, as a field system would.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from portal.channels import NOT_CONFIGURED
from portal.clock import utc_now
from portal.core.jobs import iso_utc, parse_iso
from portal.notify.callbacks import callback
from portal.notify.outbox import failed_callback
from portal.store.base import Decision, OutboxRow
from tests.fakes.callback_receiver import Answer, Arrived, Receiver
from tests.helpers import (
    OTHER_SECRET,
    job_updated,
    make_settings,
    post_event,
    sample_job,
    schema_validator,
    wait_until,
)
from tests.notify.support import call, outbox, portal_of, running

CALLBACK_SECRET = OTHER_SECRET


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def client(tmp_path: Path, receiver: Receiver) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path, callback_url=receiver.url, callback_secret=CALLBACK_SECRET, notifications=frozenset()
    )
    with running(settings) as test_client:
        post_event(test_client, job_updated(sample_job()))
        yield test_client


def verified(arrived: Arrived) -> dict[str, Any]:
    """The event, after Standard Webhooks verification of the exact bytes received."""
    payload: dict[str, Any] = Webhook(CALLBACK_SECRET).verify(arrived.body, arrived.headers)
    return payload


def note(client: TestClient, text: str = "Gate code 4411") -> None:
    """A customer note from the page: the simplest way to cause one callback."""
    path = call(client, portal_of(client).link_url, "WO-1").removeprefix("http://testserver")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert token
    response = client.post(f"{path}/note", data={"text": text, "csrf_token": token.group(1)}, follow_redirects=False)
    assert response.status_code == 303


def callback_row(client: TestClient) -> OutboxRow | None:
    rows = [r for r in outbox(client) if r.kind == "callback"]
    return rows[0] if rows else None


def finished(client: TestClient) -> OutboxRow | None:
    row = callback_row(client)
    return row if row is not None and row.state != "pending" else None


def test_a_callback_is_signed_and_verifies_with_the_standard_webhooks_library(
    client: TestClient, receiver: Receiver
) -> None:
    note(client)
    row = wait_until(lambda: finished(client), what="the callback to be delivered")
    assert (row.state, row.attempts, row.last_error) == ("done", 1, None)
    [arrived] = receiver.requests()
    event = verified(arrived)
    assert event["type"] == "customer.note"
    assert event["data"] == {"job_id": "WO-1", "text": "Gate code 4411", "channel": "web"}
    assert list(schema_validator("outbound", "customer.note").iter_errors(event)) == []
    assert arrived.headers["content-type"] == "application/json"
    assert arrived.headers["webhook-id"].startswith("msg_")
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(make_secret_other()).verify(arrived.body, arrived.headers)


def make_secret_other() -> str:
    return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the inbound secret: callbacks use their own


def test_failures_are_retried_with_the_same_webhook_id_until_the_receiver_recovers(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.script(Answer(500), Answer(429, (("Retry-After", "1"),)), Answer(503), Answer(200))
    note(client)
    row = wait_until(lambda: finished(client), timeout=30, what="delivery after three failures")
    assert (row.state, row.attempts) == ("done", 4)
    arrived = receiver.requests()
    assert len(arrived) == 4
    assert len({a.headers["webhook-id"] for a in arrived}) == 1
    assert len({a.body for a in arrived}) == 1
    assert all(verified(a)["type"] == "customer.note" for a in arrived)


def test_retry_after_is_honoured(client: TestClient, receiver: Receiver) -> None:
    receiver.script(Answer(429, (("Retry-After", "3600"),)))
    note(client)

    def waiting() -> OutboxRow | None:
        row = callback_row(client)
        return row if row is not None and row.attempts == 1 and row.last_error else None

    row = wait_until(waiting, what="the first attempt")
    assert row.state == "pending" and row.last_error is not None and row.last_error.startswith("HTTP 429")
    wait = parse_iso(row.next_attempt_at) - parse_iso(row.updated_at)
    assert wait.total_seconds() >= 3599  # not the backoff's fraction of a second
    assert len(receiver.requests()) == 1


def test_410_gone_stops_sending(client: TestClient, receiver: Receiver) -> None:
    receiver.script(Answer(410))
    note(client)
    row = wait_until(lambda: finished(client), what="the callback to be given up")
    assert row.state == "failed" and row.last_error is not None and "410" in row.last_error
    assert len(receiver.requests()) == 1
    # The failure of a callback is not itself reported by another callback.
    assert [r.kind for r in outbox(client)].count("callback") == 1


def test_callbacks_keep_trying_longer_than_messages(client: TestClient, receiver: Receiver) -> None:
    # First due 30 hours ago: an SMS or email would be given up, a callback is still retried (72 h).
    receiver.script(Answer(500), Answer(204))
    item = callback("customer.note", {"job_id": "WO-1", "text": "old", "channel": "web"}, job_id="WO-1", at=utc_now())
    old = replace(item, payload={**item.payload, "due": iso_utc(utc_now() - dt.timedelta(hours=30))})
    call(client, portal_of(client).changes.change, "WO-1", lambda job: Decision(job=job, outbox=[old]))
    row = wait_until(lambda: finished(client), timeout=30, what="delivery after a retry")
    assert (row.state, row.attempts) == ("done", 2)


def test_message_failed_rows_left_by_the_worker_are_delivered(client: TestClient, receiver: Receiver) -> None:
    portal = portal_of(client)
    sms_row = OutboxRow(0, "WO-1:booking_confirmed:x:sms", "sms", "WO-1", {}, "failed", 1, "", None, "", "")
    item = failed_callback(sms_row, "21211: invalid number")
    call(client, portal.changes.change, "WO-1", lambda job: Decision(job=job, outbox=[item]))
    wait_until(lambda: finished(client), what="the message.failed callback")
    [arrived] = receiver.requests()
    event = verified(arrived)
    assert event["type"] == "message.failed"
    assert event["data"] == {"job_id": "WO-1", "channel": "sms", "error": "21211: invalid number"}
    assert list(schema_validator("outbound", "message.failed").iter_errors(event)) == []


def test_without_a_callback_url_callbacks_are_recorded_not_sent(tmp_path: Path) -> None:
    with running(make_settings(tmp_path, notifications=frozenset())) as client:
        post_event(client, job_updated(sample_job()))
        note(client)
        row = wait_until(lambda: finished(client), what="the callback to be recorded")
        assert (row.state, row.last_error) == ("done", NOT_CONFIGURED)
        assert json.loads(json.dumps(row.payload))["type"] == "customer.note"
