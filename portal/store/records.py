"""The plain records that cross the store protocol (``base.py``), whatever the backend.

Dataclasses of plain values: the core decides over them, the backends store them, the
web edge renders them; none of them knows where it is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from portal.core.events import StoredEvent as StoredEvent
from portal.core.jobs import Job


class StoreUnavailable(Exception):
    """The store cannot be read or written right now; callers answer 503 and senders retry."""


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
    queued: int = 0  # outbox rows added (a taken dedup key adds none)
    attention: bool = False  # the change raised or cleared a reason in the staff's attention queue
    published: bool = False  # the store's own write published ``events`` to the bus (Redis)


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

    @property
    def verified(self) -> bool:
        """Only a 400 passed the signature check: other rows carry whatever the sender chose."""
        return self.status_code == 400


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


@dataclass(frozen=True)
class StaffAccount:
    """A support staff member who may sign in to the console."""

    username: str
    password_hash: str = field(repr=False)
    timezone: str = "UTC"
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class AuditEntry:
    """One staff action (sign-in, sign-out, resend, revoke) or one look at a job."""

    at: str
    username: str
    action: str
    job_id: str | None = None
    client: str | None = None
    detail: str | None = None
    id: int = 0


@dataclass(frozen=True)
class JobSearch:
    """What staff typed, prepared for the indexed columns of a job.

    ``exact`` matches a job id or reference as typed; ``pattern`` is a lowercased substring of
    the id, reference, email or name; ``phone`` is an E.164 number and ``digits`` a run of
    digits inside one.
    """

    exact: str
    pattern: str | None = None
    phone: str | None = None
    digits: str | None = None


@dataclass(frozen=True)
class LinkKeyInfo:
    """One link key a job has had: when it was issued and, if so, revoked."""

    created_at: str
    revoked_at: str | None


# Outbox row states: waiting (``pending``) or finished one way or another.
OUTBOX_STATES = ("pending", "done", "failed", "dead", "skipped")


@dataclass(frozen=True)
class OutboxRow:
    """A stored outbox row, as the worker claims it.

    ``lease_until`` is the claim's lease (None once settled). A row's leases only grow, since
    a row is claimed again only after its lease ran out, so the value also names the claim.
    """

    id: int
    dedup_key: str
    kind: str
    job_id: str | None
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
    created_at: str
    updated_at: str
    lease_until: str | None = None


@dataclass(frozen=True)
class Settlement:
    """The outcome of one delivery attempt, written in one transaction.

    ``state`` is the row's new state (``pending`` to retry at ``next_attempt_at``); the
    message history row ``message_id`` takes ``message_status``, ``provider_id`` and
    ``error``; ``follow_ups`` are queued (a fallback email, a ``message.failed`` callback);
    ``opt_out`` records that an address asked for no more messages. ``lease_until`` is the
    lease of the claim the attempt came from: when the row no longer carries it (the lease ran
    out and another worker claimed the row, or settled it), the settlement is stale and nothing
    is written. None settles whatever the row's claim (for tools and tests, never the worker).
    """

    outbox_id: int
    state: str
    next_attempt_at: str | None = None
    error: str | None = None
    message_id: int | None = None
    message_status: str | None = None
    provider_id: str | None = None
    follow_ups: tuple[OutboxItem, ...] = ()
    opt_out: str | None = None
    lease_until: str | None = None


Decide = Callable[[Job | None], Decision]
