"""The store role behind the staff's overview: the attention queue and the statistics counters.

Both are kept up to date by the writes that change them (``core/attention.py`` says which
reasons a write raises or clears, ``core/tallies.py`` which counters it moves), inside the
same transaction, so reading them never scans jobs. Every backend implements this role
beside the ``Store`` protocol.
"""

from __future__ import annotations

from typing import Protocol

from portal.core.attention import Item
from portal.store.base import AuditEntry

# Items one page of the queue shows; the total says how many more wait.
ATTENTION_PAGE = 200


class InsightStore(Protocol):
    async def attention(self, now: str, limit: int = ATTENTION_PAGE) -> tuple[list[Item], int]:
        """Jobs with reasons due by ``now``, most urgent first (at most ``limit``), and how many in all."""

    async def next_attention_due(self, now: str) -> str | None:
        """When the next reason raised for later (an unanswered request) falls due, if any."""

    async def acknowledge(self, job_id: str, now: str, audit: AuditEntry) -> list[str]:
        """Clear the job's reasons due by ``now`` and record ``audit``, in one step; the reasons cleared."""

    async def tallies(self, first_bucket: int, last_bucket: int) -> list[tuple[int, str, float]]:
        """(bucket, counter, amount) for the quarter hours ``first_bucket`` to ``last_bucket`` inclusive."""
