"""The channel interface: send one rendered message, or say precisely why not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Outgoing:
    """A rendered message to one address."""

    to: str
    body: str
    subject: str | None = None
    html: str | None = None
    message_id: str | None = None  # stable across retries: a callback's ``webhook-id``


@dataclass(frozen=True)
class Receipt:
    """The provider took the message: its id and the status to record.

    SMS start ``queued`` (Twilio reports the rest by status callback); SMTP has no delivery
    reports, so an accepted email is ``sent``; record-only messages are ``not_sent``.
    """

    status: str
    provider_id: str | None = None
    error: str | None = None


class DeliveryError(Exception):
    """A failed attempt. ``permanent`` ones are never retried; ``opted_out`` records an opt-out."""

    def __init__(
        self, error: str, *, permanent: bool, opted_out: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent
        self.opted_out = opted_out
        self.retry_after = retry_after  # seconds the receiver asked us to wait (``Retry-After``)


class Channel(Protocol):
    name: str

    async def start(self) -> None:
        """Open connections; called inside the running event loop."""

    async def close(self) -> None: ...

    async def send(self, message: Outgoing) -> Receipt:
        """Deliver ``message`` or raise DeliveryError."""
