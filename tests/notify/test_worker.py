"""The worker end to end: webhooks in, real SDK and SMTP conversations out, history recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from portal.core.jobs import FieldEvent, Job, apply_event, iso_utc
from portal.core.policy import Policy, notices
from portal.settings import NOTIFICATION_MESSAGES
from portal.store.base import Decision, OutboxItem
from tests.fakes.smtp_server import FakeSMTP
from tests.fakes.twilio_server import FakeTwilio, Reply
from tests.helpers import job_updated, now_iso, post_event, sample_job, status_changed, wait_until
from tests.notify.support import (
    MAIL_FROM,
    SENDER,
    call,
    messages,
    notify_settings,
    outbox,
    portal_of,
    running,
    settled,
)

SMS_ONLY = {
    "name": "Maria Lopez",
    "phone": "(312) 555-0142",
    "email": "maria@example.com",
    "locale": "en",
    "channels": ["sms"],
}


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as fake:
        yield fake


def sms_job(**changes: Any) -> dict[str, Any]:
    return sample_job(customer=SMS_ONLY, **changes)


def test_a_booking_is_texted_and_emailed_and_recorded(tmp_path: Path, twilio: FakeTwilio, smtp: FakeSMTP) -> None:
    with running(notify_settings(tmp_path, twilio.url, smtp.port)) as client:
        assert post_event(client, job_updated(sample_job())).status_code == 202
        rows = settled(client)
        history = wait_until(lambda: [m for m in messages(client) if m.status != "queued" or m.provider_id])
        link = call(client, portal_of(client).link_url, "WO-1")
    [sms] = twilio.messages()
    assert sms.to == "+13125550142"
    assert sms.form["From"] == SENDER
    assert sms.form["StatusCallback"] == "https://portal.example.com/webhooks/twilio/status"
    assert sms.body.startswith("Acme Plumbing: Visit booked: Sun Mar 3, 9:00-11:00 AM.")
    assert link in sms.body
    [mail] = smtp.messages()
    assert mail["To"] == "maria@example.com"
    assert link in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    by_channel = {m.channel: m for m in history}
    assert by_channel["sms"].status == "queued" and by_channel["sms"].provider_id == sms.sid
    assert by_channel["sms"].from_addr == SENDER and by_channel["sms"].to_addr == "+13125550142"
    assert by_channel["email"].status == "sent" and by_channel["email"].to_addr == "maria@example.com"
    assert by_channel["email"].from_addr == MAIL_FROM
    states = {(r.payload.get("message"), r.kind): r.state for r in rows}
    assert states[("booking_confirmed", "sms")] == "done"
    assert states[("reminder", "sms")] == "pending"  # the evening before the visit


def test_transient_failures_are_retried_until_delivered(tmp_path: Path, twilio: FakeTwilio) -> None:
    twilio.script(Reply(500), Reply(429, 20429), Reply(503))
    with running(notify_settings(tmp_path, twilio.url)) as client:
        post_event(client, job_updated(sms_job()))
        rows = settled(client)
        [message] = wait_until(lambda: [m for m in messages(client) if m.provider_id])
        metrics = client.get("/metrics").text
    assert [r.reply.status for r in twilio.messages()] == [500, 429, 503, 201]
    assert len({r.body for r in twilio.messages()}) == 1
    [row] = [r for r in rows if r.payload.get("message") == "booking_confirmed"]
    assert (row.state, row.attempts) == ("done", 4)
    assert message.status == "queued" and message.error is None
    assert 'portal_messages_total{channel="sms",outcome="retry"} 3.0' in metrics
    assert 'portal_messages_total{channel="sms",outcome="queued"} 1.0' in metrics


def test_an_invalid_number_is_not_retried_and_falls_back_to_email(
    tmp_path: Path, twilio: FakeTwilio, smtp: FakeSMTP
) -> None:
    twilio.script(Reply(400, 21211))
    with running(notify_settings(tmp_path, twilio.url, smtp.port)) as client:
        post_event(client, job_updated(sms_job()))
        rows = settled(client)
        wait_until(lambda: smtp.messages(), what="the fallback email")
        history = messages(client)
    assert len(twilio.messages()) == 1
    sms = next(m for m in history if m.channel == "sms")
    assert sms.status == "failed" and sms.error is not None and sms.error.startswith("21211")
    email = next(m for m in history if m.channel == "email")
    assert email.status == "sent" and email.to_addr == "maria@example.com"
    [mail] = smtp.messages()
    assert "booked" in str(mail["Subject"])
    [callback] = [r for r in rows if r.kind == "callback"]
    # Without PORTAL_CALLBACK_URL it is recorded, not sent (tests/notify/test_callbacks.py sends them).
    assert callback.state in ("pending", "done")
    assert callback.payload == {
        "type": "message.failed",
        "data": {"job_id": "WO-1", "channel": "sms", "error": sms.error},
    }


def test_a_stop_at_twilio_records_the_opt_out_and_later_texts_are_not_sent(tmp_path: Path, twilio: FakeTwilio) -> None:
    twilio.script(Reply(400, 21610))
    with running(notify_settings(tmp_path, twilio.url)) as client:
        post_event(client, job_updated(sms_job()))
        settled(client)
        assert call(client, portal_of(client).store.is_opted_out, "+13125550142")
        post_event(client, status_changed("WO-1", "en_route"))
        wait_until(lambda: any(m.meta.get("message") == "en_route" for m in messages(client)))
        rows = settled(client)
        history = messages(client)
    assert len(twilio.messages()) == 1  # nothing more went to Twilio
    en_route = next(m for m in history if m.meta["message"] == "en_route" and m.channel == "sms")
    assert (en_route.status, en_route.error) == ("not_sent", "opted out of SMS")
    skipped = next(r for r in rows if r.payload.get("message") == "en_route" and r.kind == "sms")
    assert skipped.state == "skipped"
    assert any(r.kind == "email" and r.payload["message"] == "en_route" for r in rows)  # the fallback


def test_a_refused_recipient_is_not_retried_and_a_busy_server_is(tmp_path: Path, smtp: FakeSMTP) -> None:
    customer = {"name": "Maria Lopez", "email": "maria@example.com", "channels": ["email"]}
    smtp.refuse("550 5.1.1 No such user", "451 4.3.0 Try again later")
    with running(notify_settings(tmp_path, smtp_port=smtp.port)) as client:
        post_event(client, job_updated(sample_job(customer=customer)))
        settled(client)
        post_event(client, status_changed("WO-1", "en_route"))
        wait_until(lambda: len(smtp.messages()) == 1, what="the retried email")
        history = wait_until(lambda: [m for m in messages(client) if m.meta["message"] == "en_route" and m.provider_id])
        first = next(m for m in messages(client) if m.meta["message"] == "booking_confirmed")
    assert first.status == "failed" and first.error is not None and first.error.startswith("550")
    assert history[0].status == "sent"


def test_without_providers_every_message_is_recorded_as_not_sent(tmp_path: Path) -> None:
    with running(notify_settings(tmp_path)) as client:
        post_event(client, job_updated(sample_job()))
        settled(client)
        history = wait_until(lambda: [m for m in messages(client) if m.status == "not_sent"])
    assert {(m.channel, m.status, m.error) for m in history} == {
        ("sms", "not_sent", "no provider"),
        ("email", "not_sent", "no provider"),
    }
    sms = next(m for m in history if m.channel == "sms")
    assert sms.body.startswith("Acme Plumbing: Visit booked:") and "/t/" in sms.body


def test_an_unusable_phone_is_recorded_and_email_is_used(tmp_path: Path, twilio: FakeTwilio, smtp: FakeSMTP) -> None:
    customer = {**SMS_ONLY, "phone": "call the office"}
    with running(notify_settings(tmp_path, twilio.url, smtp.port)) as client:
        post_event(client, job_updated(sample_job(customer=customer)))
        wait_until(lambda: smtp.messages(), what="the fallback email")
        history = messages(client)
    assert twilio.messages() == []
    sms = next(m for m in history if m.channel == "sms")
    assert (sms.status, sms.error) == ("not_sent", "unreachable: the phone number cannot be used")


@pytest.mark.parametrize(
    "email",
    [
        "maria@example.com, attacker@evil.example",
        "Maria Lopez <maria@example.com>",
        "maria@example.com\r\nBcc: attacker@evil.example",
    ],
)
def test_an_email_that_is_not_exactly_one_address_is_never_used(
    tmp_path: Path, twilio: FakeTwilio, smtp: FakeSMTP, email: str
) -> None:
    customer = {**SMS_ONLY, "phone": "call the office", "email": email, "channels": ["sms", "email"]}
    with running(notify_settings(tmp_path, twilio.url, smtp.port)) as client:
        assert post_event(client, job_updated(sample_job(customer=customer))).status_code == 202  # the job is kept
        history = wait_until(
            lambda: [m for m in messages(client) if m.channel == "email" and m.status != "queued"],
            what="the email record",
        )
    assert smtp.messages() == [] and twilio.messages() == []
    assert {(m.status, m.error) for m in history} == {
        ("not_sent", "unreachable: the email address is not exactly one address")
    }


def test_replayed_and_reordered_webhooks_send_each_message_once(tmp_path: Path, twilio: FakeTwilio) -> None:
    with running(notify_settings(tmp_path, twilio.url)) as client:
        created = job_updated(sms_job(), timestamp=now_iso(-60))
        assert post_event(client, created, msg_id="msg_created").status_code == 202
        assert post_event(client, created, msg_id="msg_created").status_code == 200  # same webhook-id
        assert post_event(client, created, msg_id="msg_created_again").status_code == 202  # resent under a new id
        on_the_way = status_changed("WO-1", "en_route", timestamp=now_iso(-30))
        assert post_event(client, on_the_way, msg_id="msg_en_route").status_code == 202
        assert post_event(client, on_the_way, msg_id="msg_en_route_2").status_code == 202
        late = status_changed("WO-1", "scheduled", timestamp=now_iso(-45))  # older than en_route
        assert post_event(client, late, msg_id="msg_late").status_code == 202
        settled(client)
        wait_until(lambda: len(twilio.messages()) >= 2)
        assert post_event(client, job_updated(sms_job(), timestamp=now_iso(-50))).status_code == 202
        settled(client)
    bodies = [r.body for r in twilio.messages()]
    assert len(bodies) == 2
    assert "Visit booked" in bodies[0] and "is on the way" in bodies[1]


def reminder_now_for(job_data: dict[str, Any]) -> list[OutboxItem]:
    """The SMS reminder of a job like ``job_data``, made due at once (as if its evening had come)."""
    event = FieldEvent("w", "job.updated", dt.datetime(2030, 1, 1, tzinfo=dt.UTC), {"job": job_data})
    found = notices(
        None, apply_event(None, event), dt.datetime(2030, 1, 1, tzinfo=dt.UTC), Policy(frozenset({"reminder"}))
    )
    return [OutboxItem(n.dedup_key, n.channel, n.job_id, n.payload) for n in found if n.channel == "sms"]


def queue(client: TestClient, items: list[OutboxItem]) -> None:
    """Queue rows for WO-1 through the store's atomic change, leaving the job as it is."""

    def decide(before: Job | None) -> Decision:
        assert before is not None
        return Decision(job=before, outbox=items)

    call(client, portal_of(client).store.change_job, "WO-1", decide)


def test_a_reminder_for_a_visit_that_moved_is_dropped(tmp_path: Path, twilio: FakeTwilio) -> None:
    with running(notify_settings(tmp_path, twilio.url, notifications=frozenset())) as client:
        post_event(client, job_updated(sms_job()))
        new_window = {"start": "2030-03-05T09:00:00-06:00", "end": "2030-03-05T11:00:00-06:00"}
        post_event(client, job_updated({"id": "WO-1", "window": new_window}))
        # The reminder queued for the old time falls due after the visit moved: it must not go out.
        queue(client, reminder_now_for(sms_job()))
        rows = settled(client, reminders=True)
    assert twilio.messages() == []
    assert [r.state for r in rows if r.payload.get("message") == "reminder"] == ["skipped"]


def test_a_message_that_keeps_failing_is_given_up_after_a_day(tmp_path: Path, twilio: FakeTwilio) -> None:
    twilio.default = Reply(500)
    with running(notify_settings(tmp_path, twilio.url, notifications=frozenset())) as client:
        post_event(client, job_updated(sms_job()))
        long_ago = iso_utc(dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
        [item] = reminder_now_for(sms_job())
        queue(
            client,
            [
                OutboxItem(
                    "old-message", "sms", "WO-1", {**item.payload, "message": "booking_confirmed", "due": long_ago}
                )
            ],
        )
        rows = settled(client)
        history = messages(client)
    assert len(twilio.messages()) == 1
    [row] = [r for r in rows if r.dedup_key == "old-message"]
    assert row.state == "dead"
    assert history[0].status == "failed" and history[0].error is not None
    assert history[0].error.startswith("gave up after 1 attempts")
    assert any(r.kind == "callback" and r.dedup_key == "old-message:failed" for r in rows)


def test_disabled_messages_come_from_settings(tmp_path: Path) -> None:
    settings = notify_settings(tmp_path, notifications=NOTIFICATION_MESSAGES - {"booking_confirmed"})
    with running(settings) as client:
        post_event(client, job_updated(sample_job()))
        rows = outbox(client)
    assert {r.payload["message"] for r in rows if r.kind != "late_check"} == {"reminder"}


def test_a_row_that_cannot_be_delivered_backs_off_instead_of_looping(tmp_path: Path) -> None:
    with running(notify_settings(tmp_path, notifications=frozenset())) as client:
        post_event(client, job_updated(sms_job()))
        queue(client, [OutboxItem("malformed", "sms", "WO-1", {"to": "+13125550142"})])  # no message name

        def retried() -> list[Any]:
            return [r for r in outbox(client) if r.dedup_key == "malformed" and r.attempts >= 2]

        [row] = wait_until(retried, what="a second attempt")
    assert row.state == "pending"
    assert row.last_error == "internal error: KeyError"
