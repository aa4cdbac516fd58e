"""Field-system webhooks in: verify the signature, validate the payload, apply it.

``FieldIntake.receive`` is the whole of it for one request, refusals included (each is
listed for staff); the endpoint only reads the body and renders the answer.

Validation uses the published JSON Schemas in ``webhooks/schemas`` themselves, so the
endpoint and the documented contract cannot drift apart.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry, Resource
from standardwebhooks import Webhook

from portal.clock import utc_now
from portal.core.jobs import FieldEvent, iso_utc, parse_iso
from portal.core.plausible import (
    FUTURE_SLACK,
    MAX_JSON_DEPTH,
    RANGE_TEXT,
    implausible_json,
    is_time,
    is_zone,
    non_finite,
    too_far_ahead,
)
from portal.metrics import Metrics
from portal.notify.changes import JobChanges
from portal.store.base import Rejection, Store, StoreUnavailable
from portal.store.throttle import Throttle

log = logging.getLogger("portal.intake")

MAX_BODY_BYTES = 256 * 1024  # CONTRACT §3
TOLERANCE_SECONDS = 5 * 60  # the Standard Webhooks replay window
MAX_WEBHOOK_ID_LENGTH = 256
MAX_DETAILS = 20  # enough to fix a payload; bounded so a hostile one cannot make a huge answer
FUTURE_SLACK_HOURS = int(FUTURE_SLACK.total_seconds() // 3600)
EVENT_TYPES = ("job.updated", "job.status_changed", "technician.location", "job.eta", "job.progress")
RETRY_AFTER_SECONDS = 5  # the store is usually back within seconds; senders retry anyway
# Unsigned rejected webhooks listed for staff: one per client address per minute, and at most
# 30 a minute in all; anyone can send them, and the rest are only counted (metrics).
UNSIGNED_LISTED_PER_CLIENT = 1
UNSIGNED_LISTED_PER_MINUTE = 30
UNSIGNED_WINDOW_SECONDS = 60.0


@dataclass
class Rejected(Exception):
    """A webhook that is refused; ``status`` is the HTTP answer, ``reason`` is shown to staff."""

    status: int
    reason: str
    detail: list[dict[str, str]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        if self.status == 400:
            return {"error": "invalid_payload", "detail": self.detail}
        names = {401: "invalid_signature", 413: "payload_too_large", 415: "unsupported_media_type"}
        return {"error": names.get(self.status, "rejected"), "detail": self.reason}


class SignatureVerifier:
    """Standard Webhooks verification over the raw bytes, with several secrets for rotation."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._hooks = [Webhook(secret) for secret in secrets]

    @property
    def configured(self) -> bool:
        return bool(self._hooks)

    def verify(self, body: bytes, headers: Mapping[str, str], now: float | None = None) -> str:
        """Return the webhook id of a genuine, fresh request; raise Rejected(401) otherwise."""
        msg_id = headers.get("webhook-id", "")
        stamp = headers.get("webhook-timestamp", "")
        signature = headers.get("webhook-signature", "")
        if not (msg_id and stamp and signature):
            raise Rejected(401, "missing webhook-id, webhook-timestamp or webhook-signature header")
        if len(msg_id) > MAX_WEBHOOK_ID_LENGTH:
            raise Rejected(401, "webhook-id is too long")
        try:
            sent = int(stamp)
        except ValueError:
            raise Rejected(401, "webhook-timestamp is not Unix seconds") from None
        if abs((time.time() if now is None else now) - sent) > TOLERANCE_SECONDS:
            raise Rejected(401, "webhook-timestamp is more than 5 minutes off")
        wanted = {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": signature}
        for hook in self._hooks:
            try:
                hook.verify(body, wanted, json_parse=False)
            except Exception:  # the library raises ValueError/binascii errors on malformed input
                continue
            return msg_id
        raise Rejected(401, "no valid signature for any configured secret")


FORMATS = {"date-time": is_time, "iana-time-zone": is_zone, "email": lambda v: "@" in v}
# What a failed format check means, in words a sender can act on.
FORMAT_MESSAGES = {
    "date-time": f"must be an ISO 8601 time with a UTC offset, {RANGE_TEXT}",
    "iana-time-zone": "must be an IANA time zone name, e.g. America/Chicago",
}
# Event times that say when something happened: one far ahead of now is a wrong clock or a
# placeholder such as 9999-12-31, and as the newest stamp it would win over every real event.
EVENT_TIMES = {
    "technician.location": ("recorded_at",),
    "job.eta": ("eta",),
    "job.progress": ("recorded_at",),
}


def format_checker() -> FormatChecker:
    checker = FormatChecker(["email"])
    checker.checks("date-time")(is_time)
    checker.checks("iana-time-zone")(is_zone)
    return checker


def load_registry(schema_dir: Path) -> Registry:
    resources = []
    for path in sorted(schema_dir.rglob("*.json")):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def inline_refs(schema: Any, registry: Registry, base: str) -> Any:
    """The schema with every ``$ref`` replaced by its target.

    Resolving references is most of jsonschema's cost per document; our schemas have no
    recursive references, so inlining them once at start makes validation several times faster.
    """
    if isinstance(schema, list):
        return [inline_refs(item, registry, base) for item in schema]
    if not isinstance(schema, dict):
        return schema
    base = schema.get("$id", base)
    if "$ref" in schema:
        ref = schema["$ref"]
        resolved = registry.resolver(base).lookup(ref)
        document = ref.split("#", 1)[0]
        target_base = urljoin(base, document) if document else base
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        return {**inline_refs(resolved.contents, registry, target_base), **inline_refs(merged, registry, base)}
    return {k: inline_refs(v, registry, base) for k, v in schema.items() if k != "$id"}


class EventParser:
    """Turns a verified body into a FieldEvent, or a 400 with a precise ``detail`` list."""

    def __init__(self, schema_dir: Path) -> None:
        registry = load_registry(schema_dir)
        checker = format_checker()
        self._validators = {}
        self._fast = {}
        for kind in EVENT_TYPES:
            schema = json.loads((schema_dir / "inbound" / f"{kind}.json").read_text())
            flat = inline_refs(schema, registry, schema["$id"])
            self._validators[kind] = Draft202012Validator(flat, format_checker=checker)
            self._fast[kind] = jsonschema_rs.Draft202012Validator(
                flat, formats=FORMATS, validate_formats=True, ignore_unknown_formats=False
            )

    def parse(self, body: bytes, webhook_id: str, now: datetime | None = None) -> FieldEvent:
        try:
            payload, plausible = _loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Rejected(400, "body is not JSON", [{"loc": "", "msg": f"body is not valid JSON: {exc}"}]) from None
        except RecursionError:
            msg = f"nested deeper than {MAX_JSON_DEPTH} levels"
            raise Rejected(400, "body is nested too deep", [{"loc": "", "msg": msg}]) from None
        if not isinstance(payload, dict):
            raise Rejected(400, "body is not a JSON object", [{"loc": "", "msg": "expected a JSON object"}])
        odd = [] if plausible else implausible_json(payload)
        if odd:
            raise Rejected(400, "implausible payload", odd)
        kind = payload.get("type")
        validator = self._validators.get(kind) if isinstance(kind, str) else None
        if validator is None or not isinstance(kind, str):
            msg = f"unknown event type {str(kind)[:60]!r}; expected one of {', '.join(EVENT_TYPES)}"
            raise Rejected(400, "unknown event type", [{"loc": "type", "msg": msg}])
        detail = []
        if not self._fast[kind].is_valid(payload):
            # The compiled validator is quick but terse; the reference one explains each error.
            detail = [_describe(e) for e in sorted(validator.iter_errors(payload), key=_error_order)]
        detail += _semantic_errors(payload, now or utc_now()) if not detail else []
        if detail:
            raise Rejected(400, "invalid payload", detail[:MAX_DETAILS])
        return FieldEvent(webhook_id, kind, parse_iso(payload["timestamp"]), payload["data"])


LONG_DIGITS = re.compile(rb"[0-9]{19}")


def _loads(body: bytes) -> tuple[Any, bool]:
    """The body parsed, and whether it is known to pass ``implausible_json`` without the walk.

    orjson, several times faster, reads the usual body; what it refuses goes to the standard
    parser, whose answer stands as before (its error messages, its reading of UTF-16 bodies and
    of lone surrogates, which ``implausible_json`` then names). A body with 19 digits in a row
    goes there too: orjson reads an integer beyond 64 bits as a float, silently, where the
    standard parser keeps the integer for ``implausible_json`` to refuse. What orjson reads
    holds no non-finite number, no integer beyond 64 bits and no lone surrogate (it refuses
    them), so of the walk's checks only the depth is left, and a body with no more than
    ``MAX_JSON_DEPTH`` brackets in all cannot nest deeper.
    """
    if LONG_DIGITS.search(body) is None:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            return value, body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH
    return json.loads(body, parse_constant=non_finite), False


def _error_order(error: ValidationError) -> tuple[str, ...]:
    return tuple(str(p) for p in error.absolute_path)


def _describe(error: ValidationError) -> dict[str, str]:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        if missing:
            return {"loc": ".".join([*path, missing[0]]), "msg": "field required"}
    if error.validator == "format" and error.validator_value in FORMAT_MESSAGES:
        return {"loc": ".".join(path), "msg": FORMAT_MESSAGES[error.validator_value]}
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return {"loc": ".".join(path), "msg": message}


def _semantic_errors(payload: dict[str, Any], now: datetime) -> list[dict[str, str]]:
    """What JSON Schema cannot say: event times not ahead of now, spans that end after they start."""
    late = f"more than {FUTURE_SLACK_HOURS} hours in the future"
    errors = [{"loc": "timestamp", "msg": late}] if too_far_ahead(payload["timestamp"], now) else []
    for name in EVENT_TIMES.get(payload["type"], ()):
        if too_far_ahead(payload["data"][name], now):
            errors.append({"loc": f"data.{name}", "msg": late})
    job = payload["data"].get("job") if payload["type"] == "job.updated" else None
    if not isinstance(job, dict):
        return errors
    spans: list[tuple[str, dict[str, str]]] = []
    if isinstance(job.get("window"), dict):
        spans.append(("data.job.window", job["window"]))
    for index, slot in enumerate(job.get("reschedule_slots") or []):
        spans.append((f"data.job.reschedule_slots.{index}", slot))
    for loc, span in spans:
        if parse_iso(span["end"]) <= parse_iso(span["start"]):
            errors.append({"loc": f"{loc}.end", "msg": "must be after start"})
    return errors


def excerpt(body: bytes, limit: int = 500) -> str:
    """A short, safe-to-store piece of a rejected body (shown escaped to staff)."""
    text = body[:limit].decode("utf-8", errors="replace")
    return text + ("..." if len(body) > limit else "")


@dataclass(frozen=True)
class Answer:
    """What to answer the field system: an HTTP status, a JSON body, and when to retry."""

    status: int
    body: dict[str, Any]
    retry_after: int | None = None


class FieldIntake:
    """One webhook from verification to the stored change, or to a listed refusal."""

    def __init__(
        self,
        verifier: SignatureVerifier,
        parser: EventParser,
        changes: JobChanges,
        store: Store,
        metrics: Metrics,
    ) -> None:
        self.verifier = verifier
        self.parser = parser
        self.changes = changes
        self.store = store
        self.metrics = metrics
        # Counted in this process: they only decide which refusals are listed, never what is accepted.
        self.unsigned_listed = Throttle(UNSIGNED_LISTED_PER_CLIENT, UNSIGNED_WINDOW_SECONDS)
        self.unsigned_listed_total = Throttle(UNSIGNED_LISTED_PER_MINUTE, UNSIGNED_WINDOW_SECONDS)

    async def receive(
        self, headers: Mapping[str, str], read_body: Callable[[], Awaitable[bytes]], client: str = "unknown"
    ) -> Answer:
        """Verify, parse and accept one webhook; ``read_body`` may raise Rejected (413, 415).

        ``client`` is the sender's address, listed with unsigned refusals.
        """
        webhooks = self.metrics.webhooks
        if not self.verifier.configured:
            webhooks.labels("unconfigured").inc()
            return Answer(503, {"error": "not_configured", "detail": "PORTAL_WEBHOOK_SECRET is not set"})
        body = b""
        try:
            body = await read_body()
            webhook_id = self.verifier.verify(body, headers)
            result = await self.changes.accept_field_event(self.parser.parse(body, webhook_id))
        except Rejected as rejected:
            await self._record(headers, rejected, body, client)
            return Answer(rejected.status, rejected.body())
        except StoreUnavailable as exc:
            log.warning("webhook not stored, answering 503: %s", exc)
            webhooks.labels("unavailable").inc()
            return Answer(503, {"error": "store_unavailable"}, RETRY_AFTER_SECONDS)
        outcome = "duplicate" if result.duplicate else "accepted"
        webhooks.labels(outcome).inc()
        return Answer(200 if result.duplicate else 202, {"status": outcome})

    async def _record(self, headers: Mapping[str, str], rejected: Rejected, body: bytes, client: str) -> None:
        """List the rejection for staff; unsigned bodies are not kept, only the reason.

        Anyone can send unsigned requests, so they are listed sparingly (see ``_list_unsigned``)
        with the sender's address, and their ``webhook-id`` is shown as unverified.
        """
        self.metrics.webhooks.labels(f"rejected_{rejected.status}").inc()
        signed = rejected.status == 400
        if not signed and not await self._list_unsigned(client):
            return
        detail = "; ".join(f"{d['loc'] or '(body)'}: {d['msg']}" for d in rejected.detail) or None
        if not signed:
            detail = f"from {client}; further unsigned requests from there this minute are only counted"
        rejection = Rejection(
            received_at=iso_utc(utc_now()),
            status_code=rejected.status,
            reason=rejected.reason,
            webhook_id=headers.get("webhook-id", "")[:MAX_WEBHOOK_ID_LENGTH] or None,
            detail=detail,
            excerpt=excerpt(body) if signed else None,
        )
        try:
            await self.store.record_rejection(rejection)
        except StoreUnavailable:
            log.warning("could not record a rejected webhook (%s)", rejected.reason)

    async def _list_unsigned(self, client: str) -> bool:
        """Whether this unsigned rejection gets a row: the first per address per minute, 30 a minute in all."""
        if await self.unsigned_listed.reserve(client) is None:
            return False
        return await self.unsigned_listed_total.reserve("all") is not None
