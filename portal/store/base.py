"""The storage protocol every backend satisfies, and the plain records that cross it.

Changes to a job go through ``change_job`` with a pure ``decide`` function: the backend
loads the job, calls ``decide``, and writes the new job, its live events and its outbox rows
in one atomic step. That keeps "state changed but the notification was lost" impossible on
any backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from portal.core.jobs import Job

# Live events kept per job for resuming streams; older ones fall back to a fresh snapshot.
EVENT_LOG_CAP = 500
# Webhook ids are remembered longer than any sender retries (Standard Webhooks: ~76 hours).
WEBHOOK_ID_RETENTION_HOURS = 96
# Rejected webhooks kept for staff; the list is for diagnosis, not an archive.
REJECTED_KEEP = 1000


class StoreUnavailable(Exception):
    """The store cannot be read or written right now; callers answer 503 and senders retry."""


@dataclass(frozen=True)
class StoredEvent:
    job_id: str
    seq: int
    type: str
    data: dict[str, Any]
    at: str


@dataclass(frozen=True)
class OutboxItem:
    """A delivery the worker must make: an SMS, an email or a callback."""

    dedup_key: str
    kind: str
    job_id: str | None
    payload: dict[str, Any]
    not_before: str | None = None


@dataclass
class Decision:
    """What a change does: the new job, the live events it publishes, the deliveries it queues."""

    job: Job
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    outbox: list[OutboxItem] = field(default_factory=list)


@dataclass(frozen=True)
class JobRecord:
    job: Job
    link_key: str
    last_seq: int
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class ChangeResult:
    duplicate: bool
    job_id: str
    events: list[StoredEvent] = field(default_factory=list)


@dataclass(frozen=True)
class LinkLookup:
    """A link key resolved: the job, or why not (``revoked``; ``unknown`` after a purge)."""

    record: JobRecord | None
    revoked: bool = False


@dataclass(frozen=True)
class Rejection:
    received_at: str
    status_code: int
    reason: str
    webhook_id: str | None
    detail: str | None
    excerpt: str | None


@dataclass(frozen=True)
class Message:
    """One SMS or email, outbound or inbound, with the truth about its delivery.

    ``status``: queued, sent, delivered, failed, undelivered, received, not_sent.
    ``meta`` holds channel-specific facts (e.g. how an inbound reply was understood).
    """

    id: int
    job_id: str | None
    channel: str
    direction: str
    to_addr: str | None
    from_addr: str | None
    body: str
    status: str
    provider_id: str | None
    error: str | None
    meta: dict[str, Any]
    created_at: str
    updated_at: str


Decide = Callable[[Job | None], Decision]


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store can be used."""

    async def change_job(self, job_id: str, decide: Decide, *, webhook_id: str | None = None) -> ChangeResult:
        """Atomically apply ``decide`` to a job; a known ``webhook_id`` changes nothing."""

    async def get_job(self, job_id: str) -> JobRecord | None: ...

    async def resolve_link(self, link_key: str) -> LinkLookup: ...

    async def rotate_link_key(self, job_id: str) -> str | None:
        """Revoke every earlier link of the job and return its new key."""

    async def events_after(self, job_id: str, seq: int) -> list[StoredEvent] | None:
        """Events newer than ``seq``, or None when the log no longer reaches back that far."""

    async def record_rejection(self, rejection: Rejection) -> None: ...

    async def list_rejections(self, limit: int = 100) -> list[Rejection]: ...

    async def add_message(self, message: Message) -> int:
        """Store a message (its ``id`` is ignored) and return the new id."""

    async def list_messages(self, job_id: str) -> list[Message]:
        """A job's messages, oldest first."""

    async def maintain(self, now: str) -> None:
        """Drop expired dedup records and trim bounded lists."""
