"""The job page in sentences: what the customer asked for and how the portal understood a text. Pure.

Staff read a job to help a customer on the phone; they should never have to read JSON. The
JSON API keeps the raw values (``/staff/api/jobs/{id}``); the page shows these sentences.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from portal.core.jobs import parse_iso
from portal.staff.job_view import tz_or_utc

CHANNELS = {"sms": "by text", "web": "on the tracking page", "email": "by email"}
ACTION_WORDS = {
    "reschedule": "asked the field system to move the visit",
    "cancel": "asked the field system to cancel the visit",
    "rating": "recorded the rating",
    "message": "passed the text on to the field system",
    "note": "passed the note on to the technician",
    "opt_out": "stopped texts to this number",
    "opt_in": "started texts to this number again",
}
RESULT_WORDS = {"done": "", "refused": " (not possible any more)", "recorded": " (recorded; no open job to tell)"}


def _when(raw: object, tz: ZoneInfo) -> str:
    """`` on Sun 03 Mar 09:00`` in the job's zone; nothing when the time is missing."""
    if not raw:
        return ""
    try:
        return " on " + parse_iso(str(raw)).astimezone(tz).strftime("%a %d %b %H:%M")
    except ValueError:
        return f" on {raw}"


def _at(raw: object, tz: ZoneInfo) -> str:
    """`` Sun 03 Mar 09:00``: ``_when`` without its "on"."""
    return _when(raw, tz).replace(" on ", " ", 1)


def _span(slot: object, tz: ZoneInfo) -> str:
    """``Sat 08 Mar 09:00-11:00`` for a slot or window in the job's zone."""
    if not isinstance(slot, dict) or not slot.get("start"):
        return "a new time"
    if not slot.get("end"):
        return _at(slot["start"], tz).strip()
    start, end = parse_iso(str(slot["start"])).astimezone(tz), parse_iso(str(slot["end"])).astimezone(tz)
    if start.date() == end.date():
        return f"{start:%a %d %b %H:%M}-{end:%H:%M}"
    return f"{start:%a %d %b %H:%M} - {end:%a %d %b %H:%M}"


def _channel(raw: object) -> str:
    return CHANNELS.get(str(raw), f"via {raw}")


def _quoted(text: object) -> str:
    return f": “{text}”" if text else ""


def request_sentences(actions: dict[str, Any], zone_name: str) -> list[str]:
    """The customer's requests, notes and rating, and the portal's own marks, as sentences.

    ``actions`` are the job's ``portal.*`` values without the prefix (``job_view.customer_actions``).
    """
    tz = tz_or_utc(zone_name)
    values = {f"portal.{name}": value for name, value in actions.items()}
    found: list[str] = []
    move = values.get("portal.reschedule")
    if isinstance(move, dict):
        found.append(
            f"Customer asked {_channel(move.get('channel'))}{_when(move.get('requested_at'), tz)} to move the"
            f" visit to {_span(move.get('slot'), tz)}; waiting for the field system to confirm."
        )
    cancel = values.get("portal.cancel")
    if isinstance(cancel, dict):
        reason = f" (reason{_quoted(cancel.get('reason'))})" if cancel.get("reason") else ""
        found.append(
            f"Customer asked {_channel(cancel.get('channel'))}{_when(cancel.get('requested_at'), tz)} to cancel"
            f"{reason}; waiting for the field system to confirm."
        )
    for note in values.get("portal.notes") or []:
        if isinstance(note, dict):
            found.append(
                f"Customer left a note {_channel(note.get('channel'))}{_when(note.get('at'), tz)}"
                f"{_quoted(note.get('text'))}"
            )
    rating = values.get("portal.rating")
    if isinstance(rating, dict):
        found.append(
            f"Customer rated the visit {rating.get('score')} out of 5 {_channel(rating.get('channel'))}"
            f"{_when(rating.get('at'), tz)}{_quoted(rating.get('comment'))}"
        )
    late = values.get("portal.late")
    if isinstance(late, dict):
        by = "by the clock (no arrival by the window's end)" if late.get("by") == "clock" else "by the live estimate"
        found.append(
            f"Marked running late {by}{_when(late.get('seen_at'), tz)}; the window ended"
            f"{_at(late.get('window_end'), tz)}."
        )
    shown = values.get("portal.eta_log")
    if isinstance(shown, dict):
        for entry in shown.get("shown", []):
            lead = "first" if entry.get("lead") == "first" else f"{entry.get('lead')} minutes ahead"
            found.append(
                f"Arrival range shown ({lead}): {_span({'start': entry['start'], 'end': entry['end']}, tz)},"
                f" recorded{_at(entry.get('recorded_at'), tz)}."
            )
    return found


def understood_sentence(meta: dict[str, Any]) -> str | None:
    """How the portal understood an inbound text and what it did, or None for other messages."""
    if "understood" not in meta:
        return None
    parts = [f"Understood as “{meta['understood']}”."]
    for action in meta.get("actions") or []:
        if isinstance(action, dict):
            words = ACTION_WORDS.get(str(action.get("kind")), f"did “{action.get('kind')}”")
            parts.append(f"The portal {words}{RESULT_WORDS.get(str(action.get('result')), '')}.")
    if not meta.get("reply"):
        parts.append("The portal sent no reply.")
    return " ".join(parts)
