"""Delivery channels behind one interface: SMS (Twilio), email (SMTP), and record-only."""

from __future__ import annotations

from portal.channels.base import Channel
from portal.channels.record import RecordOnly
from portal.settings import Settings


def make_channels(settings: Settings, public_url: str, timeout: float) -> dict[str, Channel]:
    """The channel per kind: a real provider when configured, else record-only."""
    channels: dict[str, Channel] = {}
    if settings.twilio_account_sid:
        from portal.channels.sms import TwilioSMS

        channels["sms"] = TwilioSMS(settings, public_url, timeout)
    else:
        channels["sms"] = RecordOnly("sms")
    if settings.smtp_host:
        from portal.channels.email import SMTPEmail

        channels["email"] = SMTPEmail(settings, timeout)
    else:
        channels["email"] = RecordOnly("email")
    return channels
