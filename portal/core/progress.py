"""The work on site, step by step: ``job.progress`` events kept with the job. Pure.

A field system reports a visit as a few steps (a milestone, a technician's note, a photo).
Each step has the field system's own ``id``: the same id again replaces that step when its
event is newer, so a retried or late event never brings back an older title or photo.
Steps are kept oldest first by when they happened (``recorded_at``), and only the newest
``MAX_PROGRESS_STEPS``, so a chatty field system cannot grow a job without bound.

``portal.core.jobs.apply_event`` calls in here; this module needs nothing from it at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

PROGRESS = "progress"  # the job value holding the steps
# A long visit has a dozen milestones and photos; fifty leaves room for a very long one
# while keeping the page, the stored job and every ``progress`` event small.
MAX_PROGRESS_STEPS = 50
PUBLIC_FIELDS = ("id", "title", "note", "photo_url", "percent")


def step_of(data: Mapping[str, Any], stamp: tuple[str, str], recorded_at: str) -> dict[str, Any]:
    """A stored step from a validated event's ``data``; ``recorded_at`` already in UTC form."""
    return {
        "id": str(data["id"]),
        "title": data["title"],
        "note": data.get("note"),
        "photo_url": data.get("photo_url"),
        "percent": data.get("percent"),
        "recorded_at": recorded_at,
        "stamp": list(stamp),
    }


def merge_step(steps: list[dict[str, Any]], step: dict[str, Any]) -> list[dict[str, Any]]:
    """``steps`` with ``step`` in place of an older version of it, oldest first, bounded."""
    current = next((s for s in steps if s["id"] == step["id"]), None)
    if current is not None and current["stamp"] >= step["stamp"]:
        return steps  # a duplicate or an older version: the newer one stays
    kept = [s for s in steps if s["id"] != step["id"]]
    ordered = sorted([*kept, step], key=lambda s: (s["recorded_at"], s["id"]))
    return ordered[-MAX_PROGRESS_STEPS:]


def steps_in(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stored steps of a job's ``values``, oldest first."""
    steps = values.get(PROGRESS)
    return list(steps) if isinstance(steps, list) else []


def public_steps(values: Mapping[str, Any], local: Callable[[str], str]) -> list[dict[str, Any]]:
    """The steps as the public state shows them (CONTRACT §6), ``at`` made local by ``local``."""
    return [{**{k: s.get(k) for k in PUBLIC_FIELDS}, "at": local(s["recorded_at"])} for s in steps_in(values)]
