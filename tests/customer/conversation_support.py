"""Sending signed SMS replies to the portal and reading what it answered and recorded."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

import httpx
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from portal.store.base import Message, OutboxRow
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN
from tests.notify.support import call, messages, outbox, portal_of

PUBLIC = "https://portal.example.com"
PATH = "/webhooks/twilio/inbound"
PHONE = "+13125550142"
REVIEW_URL = "https://g.page/r/acme-plumbing/review"
SLOTS = [
    {"start": "2030-03-04T09:00:00-06:00", "end": "2030-03-04T11:00:00-06:00"},
    {"start": "2030-03-04T13:00:00-06:00", "end": "2030-03-04T15:00:00-06:00"},
    {"start": "2030-03-05T09:00:00-06:00", "end": "2030-03-05T11:00:00-06:00"},
    {"start": "2030-03-06T09:00:00-06:00", "end": "2030-03-06T11:00:00-06:00"},
]


def sms(
    client: TestClient,
    body: str,
    *,
    sender: str = PHONE,
    sign_url: str = PUBLIC + PATH,
    token: str = AUTH_TOKEN,
    sid: str | None = None,
) -> httpx.Response:
    params = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(token).compute_signature(sign_url, params)
    return client.post(PATH, data=params, headers={"X-Twilio-Signature": signature})


def reply_of(response: httpx.Response) -> str | None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    found = root.find("Message")
    return found.text if found is not None else None


def inbound(client: TestClient, job_id: str = "WO-1") -> list[Message]:
    return [m for m in messages(client, job_id) if m.direction == "in"]


def callbacks(client: TestClient, job_id: str = "WO-1") -> list[dict[str, Any]]:
    rows: list[OutboxRow] = outbox(client, job_id)
    return [r.payload for r in rows if r.kind == "callback"]


def job_values(client: TestClient, job_id: str = "WO-1") -> dict[str, Any]:
    record = call(client, portal_of(client).store.get_job, job_id)
    values: dict[str, Any] = record.job.values
    return values


def opted_out(client: TestClient, phone: str = PHONE) -> bool:
    return bool(call(client, portal_of(client).store.is_opted_out, phone))
