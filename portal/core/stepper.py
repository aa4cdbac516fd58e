"""The visit as five steps a customer recognises: booked, assigned, on the way, on site, done. Pure.

Eight statuses are more than a customer needs; the page shows where the visit is among the
five steps every visit goes through. ``static/js/tracking.js`` follows the same rules live
(``STEP_OF``, keep the two in step).
"""

from __future__ import annotations

from typing import Any

STEPS = ("booked", "assigned", "on_the_way", "on_site", "done")
STEP_OF = {"created": 0, "scheduled": 0, "dispatched": 1, "en_route": 2, "in_progress": 3, "completed": 4}
# Not steps of their own: a held visit stays at the step it reached; a cancelled one has none.
HELD, CANCELLED = "on_hold", "cancelled"


def stepper(status: str, timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each step with ``state`` (done, current or upcoming) and ``at``, when it was last reached.

    Empty for a cancelled visit. A held visit's current step is the one it last reached.
    """
    if status == CANCELLED:
        return []
    reached: dict[int, str] = {}
    for entry in timeline:
        index = STEP_OF.get(entry["status"])
        if index is not None:
            reached[index] = entry["at"]
    current = STEP_OF.get(status, max(reached, default=0))
    return [
        {
            "key": key,
            "state": "done" if i < current else "current" if i == current else "upcoming",
            "at": reached.get(i) if i <= current else None,
        }
        for i, key in enumerate(STEPS)
    ]
