"""The email channel: a real SMTP conversation with aiosmtpd on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from portal.channels.base import DeliveryError, Outgoing, Receipt
from portal.channels.email import SMTPEmail
from portal.settings import from_env
from tests.fakes.smtp_server import FakeSMTP
from tests.helpers import free_port
from tests.notify.support import MAIL_FROM, notify_settings

LINK = "https://portal.example.com/t/abc.def"
MESSAGE = Outgoing(
    to="maria@example.com",
    subject="Dana is on the way",
    body=f"Dana is on the way to you. Follow them live:\n{LINK}\n",
    html=f'<p>Dana is on the way.</p><p><a href="{LINK}">Follow them live</a></p>\n',
)


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as fake:
        yield fake


def send(tmp_path: Path, port: int, message: Outgoing = MESSAGE) -> Receipt | DeliveryError:
    channel = SMTPEmail(notify_settings(tmp_path, smtp_port=port), timeout=5.0)

    async def attempt() -> Receipt | DeliveryError:
        try:
            return await channel.send(message)
        except DeliveryError as error:
            return error

    return asyncio.run(attempt())


def test_an_email_is_multipart_with_proper_headers_and_the_link_in_both_parts(tmp_path: Path, smtp: FakeSMTP) -> None:
    receipt = send(tmp_path, smtp.port)
    [(mail, recipients)] = smtp.received
    assert isinstance(receipt, Receipt) and receipt.status == "sent"
    assert recipients == ["maria@example.com"]
    assert mail["From"] == f"Acme Plumbing <{MAIL_FROM}>"
    assert mail["Subject"] == "Dana is on the way"
    assert receipt.provider_id == mail["Message-ID"]
    assert str(mail["Message-ID"]).endswith("@acme-plumbing.example>")
    assert parsedate_to_datetime(str(mail["Date"])).tzinfo is not None
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert LINK in text.get_content()  # type: ignore[attr-defined]
    assert f'href="{LINK}"' in html.get_content()  # type: ignore[attr-defined]


def test_a_refused_recipient_is_permanent(tmp_path: Path, smtp: FakeSMTP) -> None:
    smtp.refuse("550 5.1.1 No such user")
    error = send(tmp_path, smtp.port)
    assert isinstance(error, DeliveryError) and error.permanent
    assert error.error.startswith("550")


def test_a_temporary_refusal_is_retryable(tmp_path: Path, smtp: FakeSMTP) -> None:
    smtp.refuse("451 4.3.0 Try again later")
    error = send(tmp_path, smtp.port)
    assert isinstance(error, DeliveryError) and not error.permanent


def test_an_unreachable_server_is_retryable(tmp_path: Path) -> None:
    error = send(tmp_path, free_port())
    assert isinstance(error, DeliveryError) and not error.permanent


def test_an_operator_sender_with_a_display_name_delivers_under_that_name(tmp_path: Path, smtp: FakeSMTP) -> None:
    env = {
        "PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}",
        "PORTAL_COMPANY_NAME": "Acme Plumbing",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_TLS": "none",
        "SMTP_FROM": '"Acme Heating, Inc." <noreply@acme.example>',
    }
    channel = SMTPEmail(from_env(env), timeout=5.0)
    receipt = asyncio.run(channel.send(MESSAGE))
    [(mail, recipients)] = smtp.received
    assert receipt.status == "sent" and recipients == ["maria@example.com"]
    assert smtp.senders == ["noreply@acme.example"]
    assert mail["From"].addresses[0].display_name == "Acme Heating, Inc."
    assert mail["From"].addresses[0].addr_spec == "noreply@acme.example"


def test_a_bare_sender_address_shows_the_company_name(tmp_path: Path, smtp: FakeSMTP) -> None:
    send(tmp_path, smtp.port)
    [(mail, _)] = smtp.received
    assert smtp.senders == [MAIL_FROM]
    assert mail["From"].addresses[0].display_name == "Acme Plumbing"
