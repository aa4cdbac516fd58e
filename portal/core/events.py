"""The live event record: what a change publishes to open tracking pages.

The store keeps these in each job's event log, the bus fans them out and the tracking
stream replays them, so the record belongs to none of those three but to the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredEvent:
    """One live event of a job, numbered by ``seq`` (1, 2, ...) in the job's event log."""

    job_id: str
    seq: int
    type: str
    data: dict[str, Any]
    at: str
