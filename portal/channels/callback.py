"""Callbacks to the field system: Standard Webhooks signed POSTs with httpx (CONTRACT §4).

Only a 2xx answer is success. ``410 Gone`` means the receiver wants no more of this event:
it is not retried. Anything else (network errors, 3xx, 4xx, 5xx) is retried by the worker,
which waits at least as long as a ``Retry-After`` on 429 and 503 asks.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx
from standardwebhooks import Webhook

from portal.channels.base import DeliveryError, Outgoing, Receipt
from portal.clock import utc_now

GONE = 410
RETRY_AFTER_STATUSES = frozenset({429, 503})
# A Retry-After beyond this is read as this: one hostile or mistaken header must not park
# an event for days (retries still stop at the 72-hour give-up time).
MAX_RETRY_AFTER_SECONDS = 6 * 3600.0
USER_AGENT = "fieldservice-portal-callbacks/1"
MAX_ERROR_BODY = 200  # characters of the receiver's answer kept as the row's last error


def retry_after(raw: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or an HTTP date), or None."""
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        seconds = float(raw)
    else:
        try:
            seconds = (parsedate_to_datetime(raw) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))


class SignedCallback:
    name = "callback"

    def __init__(self, url: str, secret: str, timeout: float) -> None:
        self.url = url
        self.webhook = Webhook(secret)
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def headers(self, message_id: str, body: str, now: datetime) -> dict[str, str]:
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.webhook.sign(message_id, now, body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }

    async def send(self, message: Outgoing) -> Receipt:
        if self._client is None:
            raise DeliveryError("the callback channel is not started", permanent=False)
        if not message.message_id:
            raise DeliveryError("a callback needs a webhook id", permanent=True)
        now = utc_now()
        headers = self.headers(message.message_id, message.body, now)
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._client.post(self.url, content=message.body.encode(), headers=headers)
        except TimeoutError as exc:
            raise DeliveryError(f"no answer within {self.timeout:g} s", permanent=False) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"cannot reach the callback URL: {type(exc).__name__}: {exc}", permanent=False) from exc
        status = response.status_code
        if 200 <= status < 300:
            return Receipt(status="sent", provider_id=message.message_id)
        error = f"HTTP {status}: {response.text[:MAX_ERROR_BODY]}".strip()
        if status == GONE:
            raise DeliveryError(f"{error} (the receiver asked us to stop)", permanent=True)
        wait = retry_after(response.headers.get("retry-after"), now) if status in RETRY_AFTER_STATUSES else None
        raise DeliveryError(error, permanent=False, retry_after=wait)
