"""The storage protocol every backend satisfies, split by role, and the records that cross it.

Changes to a job go through ``change_job`` with a pure ``decide`` function: the backend
loads the job, calls ``decide``, and writes the new job, its live events and its outbox rows
in one atomic step. That keeps "state changed but the notification was lost" impossible on
any backend.

``Store`` is the union of the roles below; each backend's mixins implement one role each. A
caller that needs one role (the worker its outbox, retention its purge) types against that
role alone, so it says what it touches. The records live in ``records.py`` and the rules the
backends share in ``rules.py``; both are named here too, as every caller has imported them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from portal.store.exchange import Record
from portal.store.records import (
    OUTBOX_STATES,
    AuditEntry,
    ChangeResult,
    Decide,
    Decision,
    JobRecord,
    JobSearch,
    LinkKeyInfo,
    LinkLookup,
    Message,
    OutboxItem,
    OutboxRow,
    Rejection,
    Settlement,
    StaffAccount,
    StoredEvent,
    StoreUnavailable,
)
from portal.store.rules import EVENT_LOG_CAP, MESSAGE_STATUS_RANK, REJECTED_KEEP, WEBHOOK_ID_RETENTION_HOURS

__all__ = [
    "EVENT_LOG_CAP",
    "MESSAGE_STATUS_RANK",
    "OUTBOX_STATES",
    "REJECTED_KEEP",
    "WEBHOOK_ID_RETENTION_HOURS",
    "AuditEntry",
    "ChangeResult",
    "ConversationStore",
    "Decide",
    "Decision",
    "JobRecord",
    "JobSearch",
    "JobStore",
    "LinkKeyInfo",
    "LinkLookup",
    "Message",
    "MessageStore",
    "OutboxItem",
    "OutboxRow",
    "OutboxStore",
    "Record",
    "Rejection",
    "RetentionStore",
    "Settlement",
    "StaffAccount",
    "StaffStore",
    "Store",
    "StoreLifecycle",
    "StoreUnavailable",
    "StoredEvent",
    "TransferStore",
]


class StoreLifecycle(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store can be used."""


class JobStore(Protocol):
    """Jobs, their links and event logs, and the record of webhooks taken or refused."""

    async def change_job(self, job_id: str, decide: Decide, *, webhook_id: str | None = None) -> ChangeResult:
        """Atomically apply ``decide`` to a job; a known ``webhook_id`` changes nothing."""

    async def get_job(self, job_id: str) -> JobRecord | None: ...

    async def resolve_link(self, link_key: str) -> LinkLookup: ...

    async def rotate_link_key(self, job_id: str) -> str | None:
        """Revoke every earlier link of the job and return its new key."""

    async def link_history(self, job_id: str) -> list[LinkKeyInfo]:
        """Every link key the job has had, oldest first."""

    async def events_after(self, job_id: str, seq: int) -> list[StoredEvent] | None:
        """Events newer than ``seq``, or None when the log no longer reaches back that far."""

    async def claim_delivery_id(self, delivery_id: str) -> bool:
        """True the first time an id is claimed (kept as long as webhook ids), False for a replay."""

    async def record_rejection(self, rejection: Rejection) -> None: ...

    async def list_rejections(self, limit: int = 100) -> list[Rejection]: ...

    async def maintain(self, now: str) -> None:
        """Drop expired dedup records and trim bounded lists."""


class MessageStore(Protocol):
    """The message history: every SMS and email, out and in, with the truth about its delivery."""

    async def add_message(self, message: Message) -> int:
        """Store a message (its ``id`` is ignored) and return the new id."""

    async def list_messages(self, job_id: str) -> list[Message]:
        """A job's messages, oldest first."""

    async def extend_lease(self, outbox_id: int, lease_until: str, new_lease_until: str) -> bool:
        """Hold a claimed row longer, while its outcome cannot be recorded yet.

        Returns False, changing nothing, when the row no longer carries ``lease_until`` (it
        was settled, or taken over by another worker after the lease ran out).
        """

    async def update_message_status(self, provider_id: str, status: str, error: str | None, now: str) -> Message | None:
        """Move a message forward to ``status`` (never backwards); None when the id is unknown."""


class OutboxStore(Protocol):
    """The deliveries waiting to be made, the worker's claims on them, and SMS opt-outs."""

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


class StaffStore(Protocol):
    """The staff console: accounts, sessions, the audit log and job search."""

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


class ConversationStore(Protocol):
    """Two-way SMS: the sender's jobs and the conversation with them."""

    async def jobs_by_phone(self, phone: str, limit: int) -> list[JobRecord]:
        """Jobs whose customer phone (E.164) is ``phone``, most recently changed first."""

    async def get_conversation(self, phone: str) -> dict[str, Any] | None:
        """What the portal last asked this phone number (``core/replies.py``), if anything."""

    async def set_conversation(self, phone: str, state: dict[str, Any] | None, now: str) -> None:
        """Keep the conversation state of a phone number; None forgets it."""


class RetentionStore(Protocol):
    async def purge_closed_jobs(self, closed_before: str, limit: int) -> int:
        """Delete up to ``limit`` jobs closed (completed or cancelled) before ``closed_before``.

        With each job goes everything personal tied to it: its search entries, event log,
        messages, outbox rows, link keys (its links then resolve to nothing), and the
        conversation state of its phone when no other job has that phone. The staff audit
        log, which names job ids only, and SMS opt-outs are kept. Returns how many were
        deleted; callers repeat until that is fewer than ``limit``.
        """


class TransferStore(Protocol):
    """Every record of a store out and in, for ``portal migrate-store``.

    Records are plain dicts in the one format of ``exchange.py``, whatever the backend, so
    the copy between two backends knows neither's schema.
    """

    async def is_empty(self) -> bool:
        """Whether the store holds no data at all (only an empty store may be copied into)."""

    async def count_records(self, kind: str) -> int:
        """How many records of ``kind`` an export yields (an estimate for some kinds)."""

    def export_records(self, kind: str) -> AsyncIterator[Record]:
        """Every record of ``kind`` (one of ``exchange.KINDS``), in the order they are imported."""

    async def import_record(self, kind: str, record: Record) -> None:
        """Write one exported record, keeping its ids, as this backend would have written it."""


class Store(
    StoreLifecycle,
    JobStore,
    MessageStore,
    OutboxStore,
    StaffStore,
    ConversationStore,
    RetentionStore,
    TransferStore,
    Protocol,
):
    """Everything a store does: what ``open_store`` returns and the contract suite checks."""


STOP_RETRY_SECONDS = 0.5  # how long stop_task waits on one cancellation before sending another


async def stop_task(task: asyncio.Task[Any], log: logging.Logger) -> None:
    """Cancel ``task`` and wait until it has really ended.

    One cancellation is not always enough for a task inside store I/O: redis-py (8.1) can absorb
    one that lands while a command or a connection is under way, and the task then runs on (into
    an hour's sleep, or a 15 s read), which made shutdown hang. So cancel again until it ends.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_RETRY_SECONDS)
    if not task.cancelled() and task.exception() is not None:
        log.warning("%s ended with an error while stopping: %s", task.get_name(), task.exception())
