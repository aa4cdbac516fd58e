"""A self-hosted customer notification and live-tracking portal for field-service jobs."""

__version__ = "0.1.0"
