"""Delivery channels behind one interface: SMS (Twilio), email (SMTP), signed callbacks, and record-only.

Never imports ``portal.web``, the store or a service: the worker hands a channel one rendered
message and records what happened.
"""

from __future__ import annotations

from portal.channels.base import Channel
from portal.channels.record import NO_PROVIDER, SIMULATED, RecordOnly
from portal.settings import Settings

NOT_CONFIGURED = "recorded, not sent: PORTAL_CALLBACK_URL is not set"


def make_channels(settings: Settings, public_url: str, timeout: float) -> dict[str, Channel]:
    """The channel per kind: a real provider when configured, else record-only."""
    channels: dict[str, Channel] = {}
    unsent = SIMULATED if settings.demo else NO_PROVIDER
    if settings.twilio_account_sid:
        from portal.channels.sms import TwilioSMS

        channels["sms"] = TwilioSMS(settings, public_url, timeout)
    else:
        channels["sms"] = RecordOnly("sms", unsent)
    if settings.smtp_host:
        from portal.channels.email import SMTPEmail

        channels["email"] = SMTPEmail(settings, timeout)
    else:
        channels["email"] = RecordOnly("email", unsent)
    if settings.callback_url and settings.callback_secret:
        from portal.channels.callback import SignedCallback

        channels["callback"] = SignedCallback(settings.callback_url, settings.callback_secret, timeout)
    else:
        channels["callback"] = RecordOnly("callback", NOT_CONFIGURED)
    return channels
