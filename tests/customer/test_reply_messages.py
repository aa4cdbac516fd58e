"""The SMS replies to inbound texts: pinned by golden files, each in one GSM-7 segment.

Re-record after a deliberate template change with
``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/customer/test_reply_messages.py`` and review the diff.
"""

from __future__ import annotations

from typing import Any

import pytest

from portal.core.gsm7 import GSM_SINGLE, is_gsm7, segments, septets
from portal.customer.conversation import REPLY_PREFIX
from portal.notify.render import MessageRenderer
from portal.settings import Settings
from portal.web.twilio import twiml
from tests.golden_support import COMPANY, GOLDEN, check_golden

# Realistic and long: three slots in the morning and afternoon, ten-character references.
SLOTS = [
    {"start": "2030-09-11T10:00:00-05:00", "end": "2030-09-11T12:00:00-05:00"},
    {"start": "2030-09-11T13:00:00-05:00", "end": "2030-09-11T15:00:00-05:00"},
    {"start": "2030-09-12T10:00:00-05:00", "end": "2030-09-12T12:00:00-05:00"},
]
REVIEW_URL = "https://g.page/r/CdEfGhIjKlMnOp/review"
CHOICES = [
    {"job_id": "J1", "reference": "R-10442-AB", "summary": "Wed Sep 11"},
    {"job_id": "J2", "reference": "R-10500-CD", "summary": "Thu Sep 12"},
    {"job_id": "J3", "reference": "R-10512-EF", "summary": "Fri Sep 13"},
]
BASE: dict[str, Any] = {
    "reference": "R-10442-AB",
    "slots": SLOTS,
    "slot": SLOTS[1],
    "choices": CHOICES,
    "count": 3,
    "score": 4,
    "review_url": None,
}
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("help", "", {}),
    ("slots", "", {}),
    ("which_job", "", {}),
    ("no_open_job", "", {}),
    ("no_slots", "", {}),
    ("no_slots", "support-phone", {"support_phone": "+1 (312) 555-0142"}),
    ("reschedule_pending", "", {}),
    ("reschedule_pending", "support-phone", {"support_phone": "+1 (312) 555-0142"}),
    ("slot_unknown", "", {}),
    ("reschedule_requested", "", {}),
    ("rating_thanks", "", {}),
    ("rating_thanks", "review", {"review_url": REVIEW_URL}),
    ("thanks", "", {}),
]
IDS = [f"{m}-{v}" if v else m for m, v, _ in CASES]


@pytest.fixture(scope="module")
def renderer() -> MessageRenderer:
    return MessageRenderer(Settings(company_name=COMPANY))


def render(renderer: MessageRenderer, answer: str, changes: dict[str, Any]) -> str:
    return renderer.render("sms", REPLY_PREFIX + answer, "en", {**BASE, **changes}).body


@pytest.mark.parametrize(("answer", "variant", "changes"), CASES, ids=IDS)
def test_reply_matches_its_golden_file(
    renderer: MessageRenderer, answer: str, variant: str, changes: dict[str, Any]
) -> None:
    body = render(renderer, answer, changes)
    name = "-".join(filter(None, [REPLY_PREFIX + answer, variant]))
    check_golden(GOLDEN / "sms" / "en" / f"{name}.txt", body + "\n")


@pytest.mark.parametrize(("answer", "variant", "changes"), CASES, ids=IDS)
def test_every_reply_fits_one_gsm7_segment(
    renderer: MessageRenderer, answer: str, variant: str, changes: dict[str, Any]
) -> None:
    body = render(renderer, answer, changes)
    assert is_gsm7(body), f"{answer}: non-GSM-7 characters in {body!r}"
    assert septets(body) <= GSM_SINGLE and segments(body) == 1, f"{answer}: {septets(body)} characters"


def test_twiml_escapes_the_reply_and_is_empty_for_keywords() -> None:
    assert twiml("Tom & Jerry <3") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Tom &amp; Jerry &lt;3</Message></Response>'
    )
    assert twiml(None).endswith("<Response />")
