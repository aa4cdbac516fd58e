"""Schemathesis hooks for ``test_openapi_fuzz.py``: sign what a real sender would sign.

Loaded by ``schemathesis run`` through ``SCHEMATHESIS_HOOKS``. Field webhooks get a Standard
Webhooks signature over the exact bytes sent and Twilio posts an ``X-Twilio-Signature``, so
the generated bodies reach validation and the store instead of stopping at 401/403.
``PORTAL_FUZZ_TOKEN`` is a real tracking token: some generated paths use it.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from tests.helpers import signed_headers

PUBLIC_URL = os.environ.get("PORTAL_FUZZ_PUBLIC_URL", "")
TWILIO_TOKEN = os.environ.get("PORTAL_FUZZ_TWILIO_TOKEN", "")
TOKEN = os.environ.get("PORTAL_FUZZ_TOKEN", "")
JSON_BODIES = (dict, list, str, int, float, bool)  # not bytes, and not schemathesis's "no body" marker
CLIENTS = itertools.count()
ZONES = ["America/Chicago", "Europe/Madrid", "UTC", "Etc/GMT+5", "Asia/Kolkata", "Nowhere/Else", "A" * 300]

schemathesis.openapi.format("iana-time-zone", st.sampled_from(ZONES) | st.text(max_size=80))


@schemathesis.hook
def map_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if TOKEN and path_parameters and "token" in path_parameters and len(str(path_parameters["token"])) % 2 == 0:
        return {**path_parameters, "token": TOKEN}  # half the cases reach a real job
    return path_parameters


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    path = case.operation.path
    headers = dict(case.headers or {})
    # Each case comes from a client of its own (the portal believes X-Forwarded-For from
    # loopback), so the bad-link throttle does not answer 429 to the rest of the run.
    if "x-forwarded-for" not in {name.lower() for name in headers}:
        n = next(CLIENTS)
        headers["X-Forwarded-For"] = f"198.18.{n // 250 % 250}.{n % 250 + 1}"
        case.headers = headers
    # A case without the signature header tests that header's absence: it stays unsigned.
    if path == "/webhooks/field" and "webhook-signature" in headers and isinstance(case.body, JSON_BODIES):
        raw = json.dumps(case.body).encode()  # bytes are sent as they are: the signature covers them
        case.body = raw
        case.headers = {**headers, **signed_headers(raw)}
    elif path.startswith("/webhooks/twilio/") and "X-Twilio-Signature" in headers and isinstance(case.body, dict):
        form = {str(k): str(v) for k, v in case.body.items() if not isinstance(v, (list, dict))}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + path, form)
        case.headers = {**headers, "X-Twilio-Signature": signature}
