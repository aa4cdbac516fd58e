"""The SMS channel: the real twilio SDK against a Twilio-compatible server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.channels.base import DeliveryError, Outgoing, Receipt
from portal.channels.sms import TwilioSMS, classify
from tests.fakes.twilio_server import FakeTwilio, Reply
from tests.notify.support import notify_settings

TO = "+13125550142"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def send(tmp_path: Path, twilio: FakeTwilio, timeout: float = 5.0, **extra: str) -> Receipt | DeliveryError:
    channel = TwilioSMS(notify_settings(tmp_path, twilio.url, **extra), "https://portal.example.com/", timeout)

    async def attempt() -> Receipt | DeliveryError:
        await channel.start()
        try:
            return await channel.send(Outgoing(to=TO, body="Acme Plumbing: hello"))
        except DeliveryError as error:
            return error
        finally:
            await channel.close()

    return asyncio.run(attempt())


def test_a_message_is_created_with_sender_body_and_status_callback(tmp_path: Path, twilio: FakeTwilio) -> None:
    receipt = send(tmp_path, twilio)
    [request] = twilio.messages()
    assert isinstance(receipt, Receipt)
    assert (receipt.status, receipt.provider_id) == ("queued", request.sid)
    assert request.form == {
        "To": TO,
        "From": "+15005550006",
        "Body": "Acme Plumbing: hello",
        "StatusCallback": "https://portal.example.com/webhooks/twilio/status",
    }


def test_a_messaging_service_sender_is_sent_as_such(tmp_path: Path, twilio: FakeTwilio) -> None:
    send(tmp_path, twilio, twilio_from="MG0123456789abcdef0123456789abcdef")
    [request] = twilio.messages()
    assert request.form["MessagingServiceSid"] == "MG0123456789abcdef0123456789abcdef"
    assert "From" not in request.form


def test_region_and_edge_settings_do_not_move_an_explicit_api_url(
    tmp_path: Path, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    assert isinstance(send(tmp_path, twilio), Receipt)
    assert len(twilio.messages()) == 1


@pytest.mark.parametrize(
    ("reply", "permanent", "opted_out"),
    [
        (Reply(400, 21211), True, False),
        (Reply(400, 21614), True, False),
        (Reply(400, 21610), True, True),
        (Reply(400, 21602), True, False),  # any other client error: no retry can fix it
        (Reply(404), True, False),
        (Reply(429, 20429), False, False),
        (Reply(401, 20003), False, False),  # our credentials: retried while the operator fixes them
        (Reply(500), False, False),
        (Reply(503), False, False),
    ],
)
def test_errors_are_retryable_or_permanent(
    tmp_path: Path, twilio: FakeTwilio, reply: Reply, permanent: bool, opted_out: bool
) -> None:
    twilio.script(reply)
    error = send(tmp_path, twilio)
    assert isinstance(error, DeliveryError)
    assert (error.permanent, error.opted_out) == (permanent, opted_out)
    if reply.code:
        assert error.error.startswith(str(reply.code))


def test_a_provider_that_does_not_answer_in_time_is_a_retryable_error(tmp_path: Path, twilio: FakeTwilio) -> None:
    twilio.script(Reply(delay=2.0))
    error = send(tmp_path, twilio, timeout=0.2)
    assert isinstance(error, DeliveryError) and not error.permanent
    assert "within 0.2 s" in error.error


def test_an_unreachable_provider_is_a_retryable_error(tmp_path: Path) -> None:
    from tests.helpers import free_port

    class Nowhere:
        url = f"http://127.0.0.1:{free_port()}"

    error = send(tmp_path, Nowhere())  # type: ignore[arg-type]
    assert isinstance(error, DeliveryError) and not error.permanent


def test_classification_without_a_twilio_code_uses_the_http_status() -> None:
    assert classify(502, None, "Bad Gateway").permanent is False
    assert classify(400, None, "Bad Request").permanent is True
    assert classify(400, None, "Bad Request").error == "HTTP 400: Bad Request"
