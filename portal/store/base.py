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
    queued: int = 0  # outbox rows added (a taken dedup key adds none)


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
# Message statuses in the order they may move: a later callback never moves one backwards.
MESSAGE_STATUS_RANK = {"queued": 0, "sent": 1, "delivered": 2, "undelivered": 2, "failed": 2}


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

    async def claim_delivery_id(self, delivery_id: str) -> bool:
        """True the first time an id is claimed (kept as long as webhook ids), False for a replay."""

    async def record_rejection(self, rejection: Rejection) -> None: ...

    async def list_rejections(self, limit: int = 100) -> list[Rejection]: ...

    async def add_message(self, message: Message) -> int:
        """Store a message (its ``id`` is ignored) and return the new id."""

    async def list_messages(self, job_id: str) -> list[Message]:
        """A job's messages, oldest first."""

    async def maintain(self, now: str) -> None:
        """Drop expired dedup records and trim bounded lists."""

    async def purge_closed_jobs(self, closed_before: str, limit: int) -> int:
        """Delete up to ``limit`` jobs closed (completed or cancelled) before ``closed_before``.

        With each job goes everything personal tied to it: its search entries, event log,
        messages, outbox rows, link keys (its links then resolve to nothing), and the
        conversation state of its phone when no other job has that phone. The staff audit
        log, which names job ids only, and SMS opt-outs are kept. Returns how many were
        deleted; callers repeat until that is fewer than ``limit``.
        """

    # -- staff console -------------------------------------------------------------

    async def save_staff_account(self, username: str, password_hash: str, timezone: str = "UTC") -> bool:
        """Create the account or reset its password (signing out its sessions); True if created."""

    async def get_staff_account(self, username: str) -> StaffAccount | None: ...

    async def open_staff_session(self, session_hash: str, username: str) -> None: ...

    async def staff_session_account(self, session_hash: str) -> StaffAccount | None:
        """The account of a session that is still open, else None."""

    async def close_staff_session(self, session_hash: str) -> None: ...

    async def add_audit(self, entry: AuditEntry) -> None: ...

    async def list_audit(
        self, *, limit: int, offset: int = 0, job_id: str | None = None, username: str | None = None
    ) -> list[AuditEntry]:
        """Audit entries, newest first."""

    async def search_jobs(self, search: JobSearch, *, limit: int, offset: int = 0) -> list[JobRecord]:
        """Jobs matching any part of ``search``, most recently changed first, in one query."""

    async def link_history(self, job_id: str) -> list[LinkKeyInfo]:
        """Every link key the job has had, oldest first."""

    # -- notifications: the outbox, message delivery, opt-outs -----------------------

    async def claim_outbox(self, kinds: tuple[str, ...], now: str, lease_until: str, limit: int) -> list[OutboxRow]:
        """Reserve up to ``limit`` due rows of ``kinds`` until ``lease_until``, counting an attempt.

        A row whose lease ran out (its worker died) is due again, so it is retried.
        """

    async def next_outbox_due(self, kinds: tuple[str, ...]) -> str | None:
        """When the next pending row of ``kinds`` falls due, or None when there is none."""

    async def begin_message(self, outbox_id: int, message: Message) -> int:
        """The history row of an outbox row: created on the first attempt, reused after."""

    async def settle_outbox(self, settlement: Settlement, now: str) -> bool:
        """Record an attempt's outcome: row state, message status, follow-ups, opt-out.

        Returns False, writing nothing, when the settlement is stale (see ``Settlement``) or
        the row is gone.
        """

    async def update_message_status(self, provider_id: str, status: str, error: str | None, now: str) -> Message | None:
        """Move a message forward to ``status`` (never backwards); None when the id is unknown."""

    async def set_opt_out(self, address: str, opted_out: bool, source: str, now: str) -> None: ...

    async def record_opt_out(
        self, address: str, opted_out: bool, source: str, now: str, outbox: tuple[OutboxItem, ...] = ()
    ) -> int:
        """Set or clear an opt-out and queue ``outbox`` (its callbacks) in one atomic step.

        A taken dedup key adds no row; returns how many rows were added.
        """

    async def is_opted_out(self, address: str) -> bool: ...

    async def outbox_depth(self) -> int:
        """Rows still waiting to be delivered, of every kind."""

    async def outbox_counts(self) -> dict[str, int]:
        """Rows still waiting to be delivered, per kind."""

    async def list_outbox(self, job_id: str) -> list[OutboxRow]:
        """A job's outbox rows, oldest first."""

    # -- two-way SMS: the sender's jobs and the conversation with them ----------------

    async def jobs_by_phone(self, phone: str, limit: int) -> list[JobRecord]:
        """Jobs whose customer phone (E.164) is ``phone``, most recently changed first."""

    async def get_conversation(self, phone: str) -> dict[str, Any] | None:
        """What the portal last asked this phone number (``core/replies.py``), if anything."""

    async def set_conversation(self, phone: str, state: dict[str, Any] | None, now: str) -> None:
        """Keep the conversation state of a phone number; None forgets it."""
