"""Languages: every string translated, Spanish end to end, GSM-7 stand-ins, operator overrides."""

from __future__ import annotations

import json
import logging
import re
import string
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po
from jinja2 import Environment
from markupsafe import Markup

from portal.core.gsm7 import is_gsm7, segments, to_gsm7
from portal.i18n import CATALOGUE_DIR, Text, Translations, html_format, install, language_of, read_catalogue
from portal.notify.render import MessageRenderer
from portal.resources import data_dir
from portal.settings import Settings
from tests.helpers import job_updated, post_event, sample_job, status_changed, wait_until
from tests.notify.support import messages, notify_settings, portal_of, running, settled

TEMPLATES = data_dir("templates")
CATALOGUES = TEMPLATES / CATALOGUE_DIR
LANGUAGES = sorted(p.stem for p in CATALOGUES.glob("*.po"))
# Calls through another reader's Localizer (``loc.t("...")`` in a template) that Babel's extractor does not see.
KEY_USE = re.compile(r"""\b(?:t|tn|markup)\(\s*["']([a-z0-9_.]*[a-z0-9_])["']""")  # not prefixes ("done." ~ x)
# What Babel extracts: the key is the first argument of t(), tn(), markup() and text(), in Python and Jinja2.
KEYWORDS = {"t": None, "tn": (1,), "markup": None, "text": None}
SOURCES = [("portal/**.py", "python"), ("templates/pages/**.html", "jinja2")]
JINJA = {"templates/pages/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}}


def catalogue(language: str) -> dict[str, Text]:
    return read_catalogue(CATALOGUES / f"{language}.po")


def placeholders(text: Text) -> set[str]:
    forms = (text,) if isinstance(text, str) else text
    return {name for form in forms for _, name, _, _ in string.Formatter().parse(form) if name}


def write_catalogue(path: Path, language: str, entries: dict[str, Text]) -> None:
    """An operator's .po, as translators' tools write them."""
    catalogue = Catalog(locale=language)
    for key, text in entries.items():
        catalogue.add((key, key) if isinstance(text, tuple) else key, text)
    with path.open("wb") as f:
        write_po(f, catalogue)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_string_is_translated(language: str) -> None:
    english, other = catalogue("en"), catalogue(language)
    assert sorted(set(english) - set(other)) == [], f"untranslated in {language}.po"
    assert sorted(set(other) - set(english)) == [], f"keys in {language}.po that English lacks"
    wrong = [k for k in english if placeholders(english[k]) != placeholders(other[k])]
    assert wrong == [], f"placeholders differ from English in {language}.po"
    counted = [k for k in english if isinstance(english[k], tuple) != isinstance(other[k], tuple)]
    assert counted == [], f"counted in one catalogue and not the other in {language}.po"


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_message_template_exists_in_every_language(language: str) -> None:
    for channel in ("sms", "email"):
        english = {p.name for p in (TEMPLATES / "messages" / channel / "en").iterdir()}
        other = {p.name for p in (TEMPLATES / "messages" / channel / language).iterdir()}
        assert sorted(english - other) == [], f"messages/{channel}/{language} lacks these"


def test_every_key_the_code_and_pages_use_is_in_the_catalogue() -> None:
    root = Path(__file__).resolve().parents[1]
    extracted = list(extract_from_dir(root, SOURCES, options_map=JINJA, keywords=KEYWORDS))
    used = {m[2] if isinstance(m[2], str) else m[2][0] for m in extracted}
    assert {"tracking.minutes_away", "tracking.appointment", "company.default"} <= used  # both sources read
    for path in (TEMPLATES / "pages").glob("*.html"):
        used |= set(KEY_USE.findall(path.read_text(encoding="utf-8")))
    built = ("status.scheduled", "problem.404.heading", "problem.410.message", "problem.429.heading", "done.note")
    for key in built:
        used.add(key)
    assert len(used) > 30
    assert sorted(used - set(catalogue("en"))) == []


def test_locales_fall_back_to_their_language_then_english() -> None:
    translations = Translations()
    assert language_of("es-MX") == "es" and language_of(None) == "en"
    assert translations.localizer("es-MX").language == "es"
    assert translations.localizer("fr").language == "en"
    assert translations.localizer("fr").day("2030-09-14T10:00:00-05:00") == "Saturday, September 14"
    assert translations.negotiate("fr-CA,es;q=0.8,en;q=0.5").language == "es"
    assert translations.negotiate(None).language == "en"


def test_dates_and_times_follow_the_locale() -> None:
    window = {"start": "2030-09-14T10:00:00-05:00", "end": "2030-09-14T12:30:00-05:00"}
    english, spanish = Translations().localizer("en"), Translations().localizer("es")
    assert english.span(window) == "Saturday, September 14, 10:00 AM – 12:30 PM"
    assert spanish.span(window) == "sábado 14 de septiembre, 10:00 – 12:30"
    assert english.short_window(window) == "Sat Sep 14, 10:00 AM-12:30 PM"
    assert spanish.short_window(window) == "sáb 14 sept, 10:00-12:30"
    assert spanish.distance(3250) == "3,2 km (2,0 mi)" and english.distance(3250) == "3.2 km (2.0 mi)"
    assert spanish.status_label("en_route") == "El técnico va en camino"


def test_gsm7_stand_ins_keep_spanish_in_one_encoding() -> None:
    text = "Su técnico está llegando: “sábado” – ¿Ñandú? Martín…"
    assert not is_gsm7(text)
    assert to_gsm7(text) == 'Su técnico esta llegando: "sabado" - ¿Ñandu? Martin...'
    assert is_gsm7(to_gsm7(text))
    assert to_gsm7("mañana, él, ¡sí!") == "mañana, él, ¡si!"  # ñ, é and ¡ are GSM-7 already
    assert to_gsm7("Ana 😀 sábado") == "Ana 😀 sábado"  # UCS-2 anyway: nothing is lost for nothing
    assert segments("á" + "a" * 100) == 2 and segments(to_gsm7("á" + "a" * 100)) == 1


def test_spanish_end_to_end(tmp_path: Path) -> None:
    """A ``locale: "es"`` customer gets Spanish SMS and email, and a Spanish page and state."""
    job = sample_job(customer={**sample_job()["customer"], "locale": "es", "name": "Lucía Fernández"})
    with running(notify_settings(tmp_path)) as client:
        assert post_event(client, job_updated(job)).status_code == 202
        settled(client)
        found = wait_until(lambda: len(messages(client)) >= 2 and messages(client), what="both messages")
        sms = next(m for m in found if m.channel == "sms")
        email = next(m for m in found if m.channel == "email")
        assert sms.status == "not_sent"
        assert sms.body.startswith("Acme Plumbing: Visita reservada: dom 3 mar, 9:00-11:00. Detalles: ")
        assert is_gsm7(sms.body) and segments(sms.body) == 1
        assert "Hola, Lucía:" in email.body and "domingo 3 de marzo, 9:00 – 11:00" in email.body
        link = client.portal.call(portal_of(client).link_url, "WO-1")  # type: ignore[union-attr]
        path = link.removeprefix("https://portal.example.com")
        page = client.get(path).text
        assert '<html lang="es">' in page and "Cita" in page and "Programada" in page
        assert "domingo 3 de marzo, 9:00 – 11:00" in page and "Scheduled" not in page
        assert client.get(path + "/state").json()["status_label"] == "Programada"
        post_event(client, status_changed("WO-1", "en_route"))
        en_route = wait_until(
            lambda: [m for m in messages(client) if m.channel == "sms" and "camino" in m.body], what="en_route SMS"
        )
        assert "Sigalo en vivo" in en_route[0].body  # "Sígalo", spelled in GSM-7
        with client.stream("GET", path + "/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    assert json.loads(line[5:])["status_label"] == "El técnico va en camino"
                    break


def test_link_problems_speak_the_browsers_language(tmp_path: Path) -> None:
    with running(notify_settings(tmp_path)) as client:
        answer = client.get("/t/not-a-token", headers={"accept-language": "es-ES,es;q=0.9"})
        assert answer.status_code == 404 and "Enlace no encontrado" in answer.text
        assert "Link not found" in client.get("/t/not-a-token").text


def test_an_operator_adds_a_language_and_overrides_templates(tmp_path: Path) -> None:
    overrides = tmp_path / "custom"
    (overrides / CATALOGUE_DIR).mkdir(parents=True)
    french = {
        "format.clock": "HH:mm",
        "format.day": "EEEE d MMMM",
        "status.scheduled": "Planifiée",
        "tracking.minutes_away": ("{name} est à {minutes} minute", "{name} est à {minutes} minutes"),
    }
    write_catalogue(overrides / CATALOGUE_DIR / "fr.po", "fr", french)
    # A JSON catalogue, the format before gettext, is still laid over the built-in one.
    (overrides / CATALOGUE_DIR / "es.json").write_text(json.dumps({"status.scheduled": "Agendada"}))
    (overrides / "messages" / "sms" / "fr").mkdir(parents=True)
    (overrides / "messages" / "sms" / "fr" / "link.txt").write_text("{{ company_name }} : suivez {{ link }}\n")
    (overrides / "pages").mkdir()
    base = (TEMPLATES / "pages" / "base.html").read_text().replace("<main", '<p class="banner">Open 24/7</p><main')
    (overrides / "pages" / "base.html").write_text(base)
    settings = notify_settings(tmp_path, templates_dir=overrides)
    translations = Translations(overrides)
    assert translations.localizer("fr").status_label("scheduled") == "Planifiée"
    assert translations.localizer("fr").status_label("completed") == "Completed"  # missing keys read English
    assert translations.localizer("es").status_label("scheduled") == "Agendada"
    assert translations.localizer("es").status_label("completed") == "Completada"
    # French says "0 minute" and "1 minute" (CLDR: n > 1 is plural), English "0 minutes".
    away = [translations.localizer("fr").tn("tracking.minutes_away", n, name="Léa", minutes=n) for n in (0, 1, 2)]
    assert away == ["Léa est à 0 minute", "Léa est à 1 minute", "Léa est à 2 minutes"]
    rendered = MessageRenderer(settings).render("sms", "link", "fr-FR", {"link": "https://x.example/t/1"})
    assert rendered.body == "Acme Plumbing : suivez https://x.example/t/1"
    with running(settings) as client:
        post_event(client, job_updated(sample_job()))
        link = client.portal.call(portal_of(client).link_url, "WO-1")  # type: ignore[union-attr]
        page = client.get(link.removeprefix("https://portal.example.com")).text
        assert "Open 24/7" in page and "Scheduled" in page


def test_branding_reaches_pages_and_emails(tmp_path: Path) -> None:
    settings = notify_settings(
        tmp_path,
        logo_url="https://cdn.acme.example/logo.png",
        brand_color="#aa3300",
        support_phone="+1 312 555 0100",
        support_email="help@acme.example",
    )
    with running(settings) as client:
        post_event(client, job_updated(sample_job()))
        link = client.portal.call(portal_of(client).link_url, "WO-1")  # type: ignore[union-attr]
        page = client.get(link.removeprefix("https://portal.example.com"))
        assert 'src="https://cdn.acme.example/logo.png"' in page.text
        assert "<style>:root{--brand:#aa3300}</style>" in page.text and "style=" not in page.text
        assert "img-src 'self' https:" in page.headers["content-security-policy"]  # the https logo may load
        assert 'href="tel:+13125550100"' in page.text and "mailto:help@acme.example" in page.text
        settled(client)
        email = wait_until(lambda: [m for m in messages(client) if m.channel == "email"], what="the email")[0]
        assert "Questions? Call +1 312 555 0100 or email help@acme.example" in email.body
    html = MessageRenderer(Settings(brand_color="#aa3300", logo_url="https://cdn.acme.example/logo.png")).render(
        "email",
        "link",
        "en",
        {"link": "https://x.example/t/1", "customer_name": None, "reference": "R-1", "service": None, "window": None},
    )
    assert html.html is not None and "background:#aa3300" in html.html and "logo.png" in html.html


def test_the_default_company_name_is_translated_and_an_operators_name_kept_as_given(tmp_path: Path) -> None:
    default, named = Settings(), Settings(company_name="Acme Plumbing")
    context = {"link": "https://portal.example.com/t/x", "reference": "R-1"}
    assert MessageRenderer(default).render("sms", "link", "es", context).body.startswith("Su equipo de servicio:")
    assert MessageRenderer(default).render("sms", "link", "en", context).body.startswith("Your service team:")
    assert MessageRenderer(named).render("sms", "link", "es", context).body.startswith("Acme Plumbing:")
    with running(notify_settings(tmp_path, company_name=None)) as client:
        spanish = client.get("/t/not-a-token", headers={"accept-language": "es"}).text
        assert "Su equipo de servicio" in spanish and "Your service team" not in spanish
        assert "Your service team" in client.get("/t/not-a-token").text


@pytest.mark.parametrize(
    ("locale", "texts"),
    [
        ("en", ["Aisha is 1 minute away", "Aisha is 2 minutes away", "Aisha is 21 minutes away"]),
        ("es", ["Aisha está a 1 minuto", "Aisha está a 2 minutos", "Aisha está a 21 minutos"]),
    ],
)
def test_counted_phrases_follow_the_languages_plural_rules(locale: str, texts: list[str]) -> None:
    loc = Translations().localizer(locale)
    assert [loc.tn("tracking.minutes_away", n, name="Aisha", minutes=n) for n in (1, 2, 21)] == texts
    # The page's script gets one form per CLDR category, for Intl.PluralRules.
    forms = loc.js_strings()["minutes_away"]
    assert isinstance(forms, dict) and forms["one"].endswith(texts[0].split()[-1]) and "other" in forms


def test_a_catalogue_counts_by_its_own_plural_rule_not_the_installed_babels(tmp_path: Path) -> None:
    # CLDR grows between Babel releases (Spanish and French gained a form for millions); the
    # header the translator wrote the forms against decides, so "0" here reads the first form.
    (tmp_path / CATALOGUE_DIR).mkdir()
    (tmp_path / CATALOGUE_DIR / "es.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: es\\n"\n"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n'
        'msgid "tracking.minutes_away"\nmsgid_plural "tracking.minutes_away"\n'
        'msgstr[0] "{name}: {minutes} minuto"\nmsgstr[1] "{name}: {minutes} minutos"\n',
        encoding="utf-8",
    )
    loc = Translations(tmp_path).localizer("es")
    assert [loc.tn("tracking.minutes_away", n, name="Ana", minutes=n) for n in (0, 1, 2)] == [
        "Ana: 0 minuto",
        "Ana: 1 minuto",
        "Ana: 2 minutos",
    ]


def test_a_counted_phrase_missing_a_newer_form_reads_its_last_form_not_english(tmp_path: Path) -> None:
    french = {"tracking.minutes_away": ("{name} est à {minutes} minute", "{name} est à {minutes} minutes")}
    (tmp_path / CATALOGUE_DIR).mkdir()
    write_catalogue(tmp_path / CATALOGUE_DIR / "fr.po", "fr", french)  # the header Babel writes, forms as given
    loc = Translations(tmp_path).localizer("fr")
    assert loc.tn("tracking.minutes_away", 1_000_000, name="Léa", minutes="1 000 000").endswith("minutes")
    assert loc.tn("tracking.minutes_away", 3, name="Léa", minutes=3) == "Léa est à 3 minutes"


class Shown:
    """A value that brings its own HTML, as Markup does."""

    def __html__(self) -> str:
        return "<i>shown</i>"


class Formatted:
    def __html_format__(self, spec: str) -> str:
        return f"<u>{spec or 'formatted'}</u>"


HTML_VALUES: list[Any] = [
    '<script>alert("x")</script>&amp;',
    Markup("<b>kept</b>"),
    42,
    3.5,
    None,
    "{name}{0}",
    "\u202e",
    Shown(),
    Formatted(),
]


@pytest.mark.parametrize(
    "text",
    [
        "Look out for: {vehicle}",
        "{vehicle} &amp; {vehicle}",
        "{{literal}} {vehicle}",
        "no placeholders",
        "{0} positional",
        "{vehicle!r} converted",
        "{vehicle:>30} padded",
        "{vehicle.real} attribute",
        "{vehicle[0]} item",
        "{",
    ],
)
@pytest.mark.parametrize("value", HTML_VALUES, ids=lambda v: type(v).__name__ + repr(v)[:12])
def test_html_format_says_what_markup_format_says(text: str, value: Any) -> None:
    template = Markup(text)

    def outcome(fill: Any) -> Any:
        try:
            return fill()
        except Exception as error:  # the same refusal both ways: a broken phrase fails loudly either way
            return type(error)

    expected = outcome(lambda: template.format(vehicle=value, other="<unused>"))
    found = outcome(lambda: html_format(template, {"vehicle": value, "other": "<unused>"}))
    assert found == expected
    if not isinstance(found, type):
        assert isinstance(found, Markup)


@pytest.mark.parametrize("autoescape", [True, False])
def test_a_readers_t_and_tn_say_what_the_environments_say(autoescape: bool) -> None:
    source = (
        '{{ t("tracking.appointment") }}|{% set v %}<b>{{ x }}</b>{% endset %}{{ t("tracking.vehicle", vehicle=v) }}|'
        '{{ t("tracking.times_in", zone=x) }}|{{ tn("tracking.minutes_away", 1, name=x, minutes=1) }}|'
        '{{ tn("tracking.minutes_away", 7, name=x, minutes=7) }}'
    )
    env = Environment(autoescape=autoescape)
    install(env)
    for locale in ("en", "es"):
        loc = Translations().localizer(locale)
        context = {"i18n": loc, "x": "<Dana & co>"}
        through_environment = env.from_string(source).render(context)
        through_reader = env.from_string(source).render({**context, **loc.template_functions})
        assert through_reader == through_environment
        assert ("&lt;Dana &amp; co&gt;" in through_reader) is autoescape


def test_a_missing_phrase_is_logged_every_time_it_is_asked_for(caplog: pytest.LogCaptureFixture) -> None:
    loc = Translations().localizer("en")
    with caplog.at_level(logging.WARNING, logger="portal.i18n"):
        assert loc.markup("no.such.phrase") == "no.such.phrase"
        assert loc.markup("no.such.phrase") == "no.such.phrase"
        assert loc.markup("tracking.appointment") == loc.markup("tracking.appointment") == "Appointment"
    assert [r.getMessage() for r in caplog.records] == ["no text for 'no.such.phrase' in any catalogue"] * 2


def test_label_tables_are_the_readers_own_and_a_caller_cannot_change_them() -> None:
    loc = Translations().localizer("es")
    labels, strings = loc.status_labels(), loc.js_strings()
    assert labels["en_route"] == "El técnico va en camino"
    labels["en_route"] = "changed"
    forms = strings["minutes_away"]
    assert isinstance(forms, dict)
    forms["one"] = "changed"
    strings["zoom_in"] = "changed"
    assert loc.status_labels()["en_route"] == "El técnico va en camino"
    again = loc.js_strings()
    assert again["minutes_away"] != forms and again["zoom_in"] != "changed"


@pytest.mark.parametrize("locale", ["en", "es", "es-MX", "fr"])
def test_the_pages_json_tables_are_what_tojson_writes(locale: str) -> None:
    env = Environment(autoescape=True)
    loc = Translations().localizer(locale)
    tojson = env.from_string("{{ labels | tojson }}|{{ strings | tojson }}")
    expected = tojson.render(labels=loc.status_labels(), strings=loc.js_strings())
    assert f"{loc.status_labels_json}|{loc.js_strings_json}" == expected
