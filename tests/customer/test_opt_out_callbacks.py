"""Opt-outs reach the field system: a STOP to us and a STOP Twilio reports (error 21610)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.twilio_server import FakeTwilio, Reply
from tests.helpers import job_updated, post_event, sample_job
from tests.notify.support import call, notify_settings, portal_of, running, settled

PHONE = "+13125550142"
SMS_ONLY = {"name": "Maria Lopez", "phone": "(312) 555-0142", "locale": "en", "channels": ["sms"]}


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def test_a_21610_records_the_opt_out_and_queues_customer_opted_out(tmp_path: Path, twilio: FakeTwilio) -> None:
    twilio.script(Reply(400, 21610))
    with running(notify_settings(tmp_path, twilio.url)) as client:
        post_event(client, job_updated(sample_job(customer=SMS_ONLY)))
        rows = settled(client)
        assert call(client, portal_of(client).store.is_opted_out, PHONE)
    told = [r.payload for r in rows if r.kind == "callback" and r.payload["type"] == "customer.opted_out"]
    assert [t["data"] for t in told] == [{"phone": PHONE}]
