"""Prometheus metrics, one registry per app so that several apps (tests) never collide."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Seconds from when a message fell due to when its provider took it: mostly well under a
# second, minutes while a provider is failing, up to the 24 h give-up.
DELIVERY_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 7200.0, 86400.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "portal_webhooks", "Field-system webhooks by outcome.", ["outcome"], registry=self.registry
        )
        self.sse_open = Gauge("portal_sse_streams_open", "Open tracking event streams.", registry=self.registry)
        self.events_published = Counter(
            "portal_events_published", "Live events published to tracking pages.", ["type"], registry=self.registry
        )
        self.bad_links = Counter("portal_bad_links", "Tracking links refused.", ["reason"], registry=self.registry)
        self.messages = Counter(
            "portal_messages",
            "Outgoing message attempts by channel and outcome (queued, sent, not_sent, retry, failed, dead, skipped).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "portal_outbox_depth", "Outbox rows waiting to be delivered, by kind.", ["kind"], registry=self.registry
        )
        self.delivery_latency = Histogram(
            "portal_message_delivery_seconds",
            "From when a message fell due to when its provider accepted it.",
            ["channel"],
            buckets=DELIVERY_BUCKETS,
            registry=self.registry,
        )
        self.sms_status = Counter(
            "portal_sms_status_callbacks", "Twilio status callbacks by status.", ["status"], registry=self.registry
        )

        self.routing_requests = Counter(
            "portal_routing_requests",
            "Road routing requests by outcome (ok, timeout, error, bad_answer).",
            ["outcome"],
            registry=self.registry,
        )
        self.loop_tasks = Gauge(
            "portal_event_loop_tasks",
            "Tasks alive on the event loop: flat when streams come and go means nothing leaks.",
            registry=self.registry,
        )
        self.loop_tasks.set_function(_loop_tasks)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _loop_tasks() -> float:
    """Counted when ``/metrics`` is rendered, which happens on the event loop."""
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # rendered outside a running loop (a test, a thread)
        return 0.0
