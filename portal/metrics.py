"""Prometheus metrics, one registry per app so that several apps (tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


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

    def render(self) -> bytes:
        return generate_latest(self.registry)
