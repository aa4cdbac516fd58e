"""SMS through the real twilio SDK, asynchronously.

The SDK's async HTTP client needs the running loop, so it is built in ``start`` (the
lifespan) and closed in ``close``. Its own timeout is ignored, so each call is bounded here.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from portal.channels.base import DeliveryError, Outgoing, Receipt
from portal.settings import Settings

log = logging.getLogger("portal.channels.sms")

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
MESSAGING_SERVICE_PREFIX = "MG"
OPTED_OUT = 21610  # the recipient sent STOP: Twilio refuses until they send START
# Twilio errors that no retry can fix: invalid number, not a mobile number, opted out.
PERMANENT_CODES = frozenset({21211, 21614, OPTED_OUT})
RATE_LIMITED = frozenset({429, 20429})  # HTTP 429 and Twilio's "too many requests" code
# A 401 is our credentials, not the message: keep retrying while the operator fixes them.
RETRYABLE_CLIENT_STATUSES = frozenset({401, 408, 409, 429})


def classify(status: int, code: int | None, text: str) -> DeliveryError:
    """Turn a Twilio API error into a retryable or permanent DeliveryError."""
    error = f"{code}: {text}" if code else f"HTTP {status}: {text}"
    if code in PERMANENT_CODES:
        return DeliveryError(error, permanent=True, opted_out=code == OPTED_OUT)
    if status in RATE_LIMITED or code in RATE_LIMITED:
        return DeliveryError(error, permanent=False)
    permanent = 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES
    return DeliveryError(error, permanent=permanent)


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's async client, sending Basic credentials as a header.

    The SDK hands them to ``aiohttp.BasicAuth``, deprecated in aiohttp 3.14 (a warning on
    every message); the header is the same bytes on the wire.
    """

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the SDK's own signature; send() bounds the call)
        allow_redirects: bool = False,
    ) -> Any:
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {**(headers or {}), "Authorization": f"Basic {token}"}
        return await super().request(method, url, params, data, headers, None, timeout, allow_redirects)


class TwilioSMS:
    name = "sms"

    def __init__(self, settings: Settings, public_url: str, timeout: float) -> None:
        self.account_sid = settings.twilio_account_sid or ""
        self.auth_token = settings.twilio_auth_token or ""
        self.sender = settings.twilio_from or ""
        self.api_url = settings.twilio_api_url
        self.status_callback = public_url.rstrip("/") + STATUS_CALLBACK_PATH
        self.timeout = timeout
        self._http: _HttpClient | None = None
        self._client: Client | None = None

    async def start(self) -> None:
        self._http = _HttpClient()
        client = Client(self.account_sid, self.auth_token, http_client=self._http)
        if self.api_url:
            # An explicit API URL wins over TWILIO_REGION / TWILIO_EDGE, which rewrite hosts.
            client.region = None
            client.edge = None
            client.api.base_url = self.api_url
        self._client = client

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._client = None

    def _params(self, message: Outgoing) -> dict[str, Any]:
        params: dict[str, Any] = {"to": message.to, "body": message.body, "status_callback": self.status_callback}
        if self.sender.startswith(MESSAGING_SERVICE_PREFIX):
            params["messaging_service_sid"] = self.sender
        else:
            params["from_"] = self.sender
        return params

    async def send(self, message: Outgoing) -> Receipt:
        if self._client is None:
            raise DeliveryError("the SMS channel is not started", permanent=False)
        try:
            async with asyncio.timeout(self.timeout):
                created = await self._client.messages.create_async(**self._params(message))
        except TwilioRestException as exc:
            raise classify(int(exc.status), exc.code, str(exc.msg)) from exc
        except TwilioServiceException as exc:
            raise classify(int(exc.status), exc.code, str(exc.title)) from exc
        except TimeoutError as exc:
            raise DeliveryError(f"no answer from Twilio within {self.timeout:g} s", permanent=False) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"cannot reach Twilio: {exc}", permanent=False) from exc
        return Receipt(status="queued", provider_id=str(created.sid))
