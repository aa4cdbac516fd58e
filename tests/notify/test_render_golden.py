"""Every default message, rendered: pinned by golden files, and every SMS in one GSM-7 segment.

Re-record the golden files after a deliberate template change with
``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/notify/test_render_golden.py`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portal.core.gsm7 import GSM_SINGLE, is_gsm7, segments, septets
from portal.links import LinkSigner, new_link_key
from portal.notify.render import MessageRenderer, locales, short_window
from portal.settings import NOTIFICATION_MESSAGES, Settings
from tests.golden_support import COMPANY, GOLDEN, check_golden
from tests.helpers import SECRET_KEY

# Realistic and long: a 20-character company name and first names, a 30-character public URL.
PUBLIC_URL = "https://track.acmeplumbing.com"
LONG_NAME = "Maximilian-Alexander"
LINK = LinkSigner((SECRET_KEY,)).url(PUBLIC_URL, "AbCdEfGhIjKl")
WINDOW = {"start": "2030-09-11T10:00:00-05:00", "end": "2030-09-11T12:00:00-05:00"}
BASE: dict[str, Any] = {
    "reference": "R-10442",
    "service": "Water heater repair",
    "customer_name": LONG_NAME,
    "technician_name": LONG_NAME,
    "window": WINDOW,
    "timezone": "America/Chicago",
    "invoice_url": None,
    "reason": None,
    "moved": False,
    "eta": "2030-09-11T12:25:00-05:00",  # the estimate a running_late message gives
}
# (message, variant, changes): every message, plus the variants whose text differs.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    *[(name, "", {}) for name in sorted(NOTIFICATION_MESSAGES)],
    ("booking_confirmed", "moved", {"moved": True}),
    ("booking_confirmed", "no-window", {"window": None}),
    ("technician_assigned", "no-name", {"technician_name": None}),
    ("en_route", "no-name", {"technician_name": None}),
    ("completed", "invoice", {"invoice_url": "https://pay.acmeplumbing.com/invoices/10442"}),
    ("cancelled", "reason", {"reason": "Customer asked to cancel <by phone>"}),
    ("on_hold", "reason", {"reason": "Waiting for parts"}),
    ("running_late", "no-eta", {"eta": None, "technician_name": None}),
    ("link", "", {}),  # sent by a staff "resend link"
]
IDS = [f"{m}-{v}" if v else m for m, v, _ in CASES]
LOCALES = ["en", "es"]  # every built-in language: each message of each has a golden file


@pytest.fixture(scope="module")
def renderer() -> MessageRenderer:
    return MessageRenderer(Settings(company_name=COMPANY))


def context(changes: dict[str, Any], link: str = LINK) -> dict[str, Any]:
    return {**BASE, **changes, "link": link}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("message", "variant", "changes"), CASES, ids=IDS)
def test_sms_matches_its_golden_file(
    renderer: MessageRenderer, message: str, variant: str, changes: dict[str, Any], locale: str
) -> None:
    body = renderer.render("sms", message, locale, context(changes)).body
    check_golden(GOLDEN / "sms" / locale / f"{'-'.join(filter(None, [message, variant]))}.txt", body + "\n")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("message", "variant", "changes"), CASES, ids=IDS)
def test_email_matches_its_golden_files(
    renderer: MessageRenderer, message: str, variant: str, changes: dict[str, Any], locale: str
) -> None:
    rendered = renderer.render("email", message, locale, context(changes))
    name = "-".join(filter(None, [message, variant]))
    assert rendered.html is not None and rendered.subject
    check_golden(GOLDEN / "email" / locale / f"{name}.txt", f"Subject: {rendered.subject}\n\n{rendered.body}")
    check_golden(GOLDEN / "email" / locale / f"{name}.html", rendered.html)
    # The tracking link is in both parts; hostile text is escaped in HTML.
    assert LINK in rendered.body and f'href="{LINK}"' in rendered.html
    assert "<by phone>" not in rendered.html


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("message", "variant", "changes"), CASES, ids=IDS)
def test_every_default_sms_fits_one_gsm7_segment(
    renderer: MessageRenderer, message: str, variant: str, changes: dict[str, Any], locale: str
) -> None:
    link = LinkSigner((SECRET_KEY,)).url(PUBLIC_URL, new_link_key())
    assert len(PUBLIC_URL) == 30 and len(COMPANY) == len(LONG_NAME) == 20
    body = renderer.render("sms", message, locale, context(changes, link)).body
    assert is_gsm7(body), f"{message}: non-GSM-7 characters in {body!r}"
    assert septets(body) <= GSM_SINGLE and segments(body) == 1, f"{message}: {septets(body)} characters"


def test_gsm7_counting() -> None:
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2
    assert segments("[" * 80) == 1 and segments("[" * 81) == 2  # extension characters count twice
    assert not is_gsm7("Visit booked: 9:00–11:00")  # an en dash switches to UCS-2
    assert segments("é" * 160) == 1 and segments("’" + "a" * 70) == 2


def test_windows_read_naturally_in_sms() -> None:
    assert short_window(WINDOW) == "Wed Sep 11, 10:00 AM-12:00 PM"
    assert short_window({"start": "2030-03-03T09:00:00-06:00", "end": "2030-03-03T11:30:00-06:00"}) == (
        "Sun Mar 3, 9:00-11:30 AM"
    )
    overnight = {"start": "2030-03-03T22:00:00-06:00", "end": "2030-03-04T02:00:00-06:00"}
    assert short_window(overnight) == "Sun Mar 3 10:00 PM-Mon Mar 4 2:00 AM"


def test_an_operator_template_overrides_the_built_in_one(tmp_path: Path) -> None:
    override = tmp_path / "messages" / "sms" / "en"
    override.mkdir(parents=True)
    (override / "en_route.txt").write_text("{{ company_name }}: {{ technician_name }} is coming! {{ link }}\n")
    custom = MessageRenderer(Settings(company_name=COMPANY, templates_dir=tmp_path))
    assert custom.render("sms", "en_route", "en", context({})).body == f"{COMPANY}: {LONG_NAME} is coming! {LINK}"
    assert custom.render("sms", "cancelled", "en", context({})).body.startswith(f"{COMPANY}: Your visit on")


def test_a_locale_without_templates_falls_back_to_its_language_then_english(renderer: MessageRenderer) -> None:
    assert locales("es-MX") == ["es-MX", "es", "en"]
    assert locales(None) == ["en"]
    english = renderer.render("sms", "en_route", "en", context({})).body
    spanish = renderer.render("sms", "en_route", "es", context({})).body
    assert renderer.render("sms", "en_route", "es-MX", context({})).body == spanish != english
    assert renderer.render("sms", "en_route", "fr-CA", context({})).body == english
