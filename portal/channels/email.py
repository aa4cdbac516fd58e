"""Email through aiosmtplib: multipart text + HTML, with the headers mail clients expect."""

from __future__ import annotations

import asyncio
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib

from portal import i18n
from portal.channels.base import DeliveryError, Outgoing, Receipt
from portal.clock import utc_now
from portal.settings import Settings

PERMANENT_REPLY = 500  # SMTP 5xx replies are permanent; 4xx are "try again later"
# Credentials are the operator's to fix; until then, retrying keeps the messages.
AUTH_FAILED = 535


def build_email(message: Outgoing, sender: str, name: str) -> EmailMessage:
    """The message, from ``name <sender>``; ``sender`` is a bare address checked at start."""
    email = EmailMessage()
    domain = sender.rpartition("@")[2] or None
    email["From"] = Address(display_name=name, addr_spec=sender)
    email["To"] = message.to
    email["Subject"] = message.subject or name
    email["Date"] = format_datetime(utc_now())
    email["Message-ID"] = make_msgid(domain=domain)
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


def classify(exc: Exception) -> DeliveryError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(text or "recipients refused", permanent=bool(codes) and min(codes) >= PERMANENT_REPLY)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        permanent = exc.code >= PERMANENT_REPLY and exc.code != AUTH_FAILED
        return DeliveryError(f"{exc.code} {exc.message}", permanent=permanent)
    return DeliveryError(f"cannot reach the mail server: {exc}", permanent=False)


class SMTPEmail:
    name = "email"

    def __init__(self, settings: Settings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send(self, message: Outgoing) -> Receipt:
        s = self.settings
        sender = s.smtp_from.address if s.smtp_from else ""
        name = (s.smtp_from.name if s.smtp_from else None) or s.company_name or i18n.english().company_name
        email = build_email(message, sender, name)
        try:
            async with asyncio.timeout(self.timeout):
                await aiosmtplib.send(
                    email,
                    sender=sender,
                    hostname=s.smtp_host,
                    port=s.smtp_port,
                    username=s.smtp_username,
                    password=s.smtp_password,
                    use_tls=s.smtp_tls == "tls",
                    start_tls=s.smtp_tls == "starttls",
                    timeout=self.timeout,
                )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise classify(exc) from exc
        return Receipt(status="sent", provider_id=str(email["Message-ID"]))
