"""Any signed Twilio form, however odd, is answered without a server error (Hypothesis).

Twilio's posts are signed over the public URL and every field; the portal must take whatever
fields and text arrive under a valid signature (a carrier's odd characters, a missing field,
a body of emoji) and answer 200, 204 or 400: never 500, and never a reply that is not TwiML.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from tests.fakes.twilio_server import AUTH_TOKEN
from tests.helpers import job_updated, post_event, sample_job
from tests.notify.support import notify_settings, running

PUBLIC = "https://portal.example.com"
FIELDS = ("MessageSid", "From", "To", "Body", "MessageStatus", "SmsStatus", "ErrorCode", "AccountSid")
# Text as carriers deliver it, and worse: any Unicode but the surrogates a form cannot carry.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
PHONES = st.sampled_from(["+13125550142", "(312) 555-0142", "+44 20 7946 0958", "", "not a number"])
FORMS = st.dictionaries(st.sampled_from(FIELDS), TEXT, max_size=len(FIELDS)) | st.fixed_dictionaries(
    {"MessageSid": st.just("SM" + "1" * 32), "From": PHONES, "Body": TEXT}
)
ONCE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp_path: Path = tmp_path_factory.mktemp("twilio-properties")
    with running(notify_settings(tmp_path, "http://127.0.0.1:9", notifications=frozenset())) as test_client:
        post_event(test_client, job_updated(sample_job(customer={"name": "Ana", "phone": "+13125550142"})))
        yield test_client


def signed(client: TestClient, path: str, form: dict[str, str]) -> tuple[int, str]:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, form)
    answer = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    return answer.status_code, answer.text


@ONCE
@given(form=FORMS)
def test_any_signed_inbound_sms_gets_twiml_or_a_clear_400(client: TestClient, form: dict[str, str]) -> None:
    status, text = signed(client, "/webhooks/twilio/inbound", form)
    assert status in (200, 400), text
    if status == 200:
        assert text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response')


@ONCE
@given(form=FORMS)
def test_any_signed_status_report_is_taken_or_refused_clearly(client: TestClient, form: dict[str, str]) -> None:
    status, text = signed(client, "/webhooks/twilio/status", form)
    assert status in (204, 400), text
