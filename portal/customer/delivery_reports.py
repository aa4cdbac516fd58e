"""Delivery reports from Twilio: verify they come from Twilio, then move messages forward.

Statuses arrive late and out of order; the store only ever moves a message forward
(queued < sent < delivered/undelivered/failed), so a late ``sent`` never hides a ``delivered``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from twilio.request_validator import RequestValidator

from portal.clock import utc_now
from portal.core.attention import FAILED_STATUSES
from portal.core.jobs import iso_utc
from portal.metrics import Metrics
from portal.store.base import Store

log = logging.getLogger("portal.customer.delivery_reports")

# Twilio's message statuses in our vocabulary (CONTRACT §7). Twilio's own early states are
# all "queued" to us; "read" (WhatsApp/RCS) is at least delivered; a canceled message failed.
TWILIO_STATUSES = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
MAX_SID_LENGTH = 64  # Twilio SIDs are 34 characters; anything far longer is not one


class TwilioSignature:
    """``X-Twilio-Signature`` checked against the public URL (not the proxied request URL)."""

    def __init__(self, auth_token: str | None) -> None:
        self._validator = RequestValidator(auth_token) if auth_token else None

    def valid(self, url: str, params: Any, signature: str | None) -> bool:
        if self._validator is None or not signature:
            return False
        return bool(self._validator.validate(url, params, signature))


def public_request_url(public_url: str, path: str, query: str) -> str:
    """The URL Twilio signed: the configured public base, the path and the query as sent."""
    return public_url.rstrip("/") + path + (f"?{query}" if query else "")


class DeliveryReports:
    """Twilio's status callbacks, checked with its auth token and applied to the stored messages."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        auth_token: str | None,
        on_attention: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.signature = TwilioSignature(auth_token)
        # Called when a report made a message fail: the store raised ``message_failed`` with it.
        self.on_attention = on_attention

    async def record_twilio_status(self, url: str, params: Mapping[str, Any], signature: str | None) -> bool:
        """Apply one status callback; False (and no change) when the signature is not Twilio's."""
        if not self.signature.valid(url, params, signature):
            self.metrics.sms_status.labels("forged").inc()
            return False
        sid = str(params.get("MessageSid") or params.get("SmsSid") or "")
        raw = str(params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        status = TWILIO_STATUSES.get(raw)
        self.metrics.sms_status.labels(status or "unknown").inc()
        if not sid or len(sid) > MAX_SID_LENGTH or status is None:
            log.info("ignoring a Twilio status callback without a known status (%r)", raw[:40])
            return True
        error = str(params.get("ErrorCode") or "") or None
        message = await self.store.update_message_status(sid, status, error, iso_utc(utc_now()))
        if message is None:
            log.info("status %s for unknown message %s", status, sid)
        elif status in FAILED_STATUSES and message.direction == "out" and self.on_attention is not None:
            await self.on_attention()
        return True
